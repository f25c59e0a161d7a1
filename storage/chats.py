"""Chats, users and the owner's per-chat settings (reply mode, relationship, training opt-in)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from storage.db import Database, now
from storage.errors import InvalidValue, NotFound
from storage.rows import REPLY_MODES, ChatRow, ReplyMode, UserRow

_UNSET = object()
_IDS_PER_QUERY = 500  # SQLite builds before 3.32 allow 999 parameters per statement


def _chat(row: sqlite3.Row) -> ChatRow:
    return ChatRow(
        id=row["id"], type=row["type"], title=row["title"], reply_mode=row["reply_mode"],
        relationship=row["relationship"], train=None if row["train"] is None else bool(row["train"]),
        relationship_suggestion=row["relationship_suggestion"], relationship_reason=row["relationship_reason"],
    )


async def upsert_chats(db: Database, chats: Iterable[ChatRow]) -> None:
    """Insert chats or refresh type/title; the owner's settings are never overwritten."""
    ts = now()
    await db.executemany(
        """INSERT INTO chats (id, type, title, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (id) DO UPDATE SET type = excluded.type,
               title = CASE WHEN excluded.title != '' THEN excluded.title ELSE chats.title END,
               updated_at = excluded.updated_at""",
        [(c.id, c.type, c.title, ts, ts) for c in chats],
    )


async def upsert_users(db: Database, users: Iterable[UserRow]) -> None:
    ts = now()
    await db.executemany(
        """INSERT INTO users (id, first_name, last_name, username, is_bot, updated_at)
           VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (id) DO UPDATE SET first_name = excluded.first_name,
               last_name = excluded.last_name, username = excluded.username,
               is_bot = excluded.is_bot, updated_at = excluded.updated_at""",
        [(u.id, u.first_name, u.last_name, u.username, int(u.is_bot), ts) for u in users],
    )


async def get_chat(db: Database, chat_id: int) -> ChatRow:
    row = await db.fetchone("SELECT * FROM chats WHERE id = ?", (chat_id,))
    if row is None:
        raise NotFound(f"chat {chat_id} not found")
    return _chat(row)


async def chats_by_id(db: Database, chat_ids: Iterable[int]) -> dict[int, ChatRow]:
    """The stored chats among `chat_ids` (unknown ids are left out)."""
    ids = sorted(set(chat_ids))
    found: dict[int, ChatRow] = {}
    for start in range(0, len(ids), _IDS_PER_QUERY):
        part = ids[start:start + _IDS_PER_QUERY]
        rows = await db.fetchall(f"SELECT * FROM chats WHERE id IN ({', '.join('?' * len(part))})", part)
        found.update((r["id"], _chat(r)) for r in rows)
    return found


async def list_chats(db: Database, search: str = "", limit: int = 500) -> list[ChatRow]:
    rows = await db.fetchall(
        "SELECT * FROM chats WHERE title LIKE ? ORDER BY updated_at DESC, id LIMIT ?",
        (f"%{search}%", limit),
    )
    return [_chat(r) for r in rows]


async def list_reply_chats(db: Database) -> dict[int, ReplyMode]:
    """The whitelist: chats whose mode is not `off`."""
    rows = await db.fetchall("SELECT id, reply_mode FROM chats WHERE reply_mode != 'off'")
    return {r["id"]: r["reply_mode"] for r in rows}


async def update_chat_settings(
    db: Database,
    chat_id: int,
    *,
    reply_mode: ReplyMode | None = None,
    relationship: str | None | object = _UNSET,
    train: bool | None | object = _UNSET,
) -> ChatRow:
    """Change the owner's settings for one chat; unknown chat → NotFound."""
    if reply_mode is not None and reply_mode not in REPLY_MODES:
        raise InvalidValue(f"reply mode must be one of {', '.join(REPLY_MODES)}")
    async with db.atomic():
        await get_chat(db, chat_id)
        if reply_mode is not None:
            await db.execute("UPDATE chats SET reply_mode = ?, updated_at = ? WHERE id = ?",
                             (reply_mode, now(), chat_id))
        if relationship is not _UNSET:
            await db.execute("UPDATE chats SET relationship = ? WHERE id = ?", (relationship, chat_id))
        if train is not _UNSET:
            value = None if train is None else int(bool(train))
            await db.execute("UPDATE chats SET train = ? WHERE id = ?", (value, chat_id))
        return await get_chat(db, chat_id)


async def set_relationship_suggestion(db: Database, chat_id: int, suggestion: str | None, reason: str | None) -> None:
    """Store what bot.relationships suggests; the confirmed `relationship` is never changed here."""
    await db.execute(
        "UPDATE chats SET relationship_suggestion = ?, relationship_reason = ? WHERE id = ?",
        (suggestion, reason, chat_id),
    )


async def confirm_relationship(db: Database, chat_id: int) -> ChatRow:
    """The owner accepts the suggestion: it becomes the chat's relationship (used for training and
    replies). Unknown chat → NotFound; no suggestion → InvalidValue."""
    async with db.atomic():
        chat = await get_chat(db, chat_id)
        if not chat.relationship_suggestion:
            raise InvalidValue(f"chat {chat_id} has no relationship suggestion to confirm")
        await db.execute("UPDATE chats SET relationship = ?, updated_at = ? WHERE id = ?",
                         (chat.relationship_suggestion, now(), chat_id))
        return await get_chat(db, chat_id)


async def get_user(db: Database, user_id: int) -> UserRow | None:
    row = await db.fetchone("SELECT * FROM users WHERE id = ?", (user_id,))
    if row is None:
        return None
    return UserRow(row["id"], row["first_name"], row["last_name"], row["username"], bool(row["is_bot"]))
