"""Reads the training pipeline needs: every chat, a chat's whole live history, owner-message counts."""

from __future__ import annotations

from storage.chats import _chat
from storage.db import Database
from storage.messages import _message
from storage.rows import ChatRow, MessageRow


async def all_chats(db: Database) -> list[ChatRow]:
    """Every chat, by id (no search, no limit: dataset building needs them all)."""
    return [_chat(r) for r in await db.fetchall("SELECT * FROM chats ORDER BY id")]


async def chat_history(db: Database, chat_id: int) -> list[MessageRow]:
    """A chat's live (not deleted) messages in time order."""
    rows = await db.fetchall(
        "SELECT * FROM messages WHERE chat_id = ? AND deleted = 0 ORDER BY date, message_id", (chat_id,)
    )
    return [_message(r) for r in rows]


async def owner_message_count(db: Database) -> int:
    """Live owner messages in all chats (the scheduler compares it with the last run's count)."""
    return int(await db.scalar("SELECT COUNT(*) FROM messages WHERE outgoing = 1 AND deleted = 0") or 0)
