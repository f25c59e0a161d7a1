"""The dialogue context for answering a chat now, built from stored history.

The one place live replies, drafts, the panel's "suggest" and `main.py reply` get their context,
using the same sessionisation, K and per-contact header as training (model.dialogue), and their
memory: what `memory.recall` finds in the chat's own history before the context window.
"""

from __future__ import annotations

import time
from dataclasses import replace

from memory import recall
from model.dialogue import Dialogue, Turn, chat_header, clean_text, live_context
from settings import Settings
from storage import Database, MessageRow
from storage import chats as chat_queries
from storage import messages as message_queries

# Enough rows to fill K turns even when turns span several messages.
ROWS_PER_TURN = 8


async def chat_dialogue(
    db: Database, settings: Settings, chat_id: int, extra_message: str | None = None, now: float | None = None
) -> Dialogue:
    """The last session of `chat_id` (up to K turns), plus an optional new partner message typed
    `now` (default: the current time). The session gap rule holds for that message too: after a
    silence longer than the gap it opens a new session, so the old one is not its context.
    `memory` holds what memory recalls from the chat's messages before the context's first one.
    Unknown chat → storage.NotFound."""
    chat = await chat_queries.get_chat(db, chat_id)
    rows = await message_queries.recent_messages(db, chat_id, settings.context_turns * ROWS_PER_TURN)
    gap_seconds = settings.session_gap_minutes * 60
    turns = list(live_context(rows, settings.context_turns, gap_seconds))
    header = chat_header(chat, settings.relationship_auto_use)
    text = clean_text(extra_message or "")
    if text:
        typed_at = int(time.time() if now is None else now)
        if rows and typed_at - max(r.date for r in rows) > gap_seconds:
            turns = []  # a new session starts with the typed message
        speaker = None if header.is_group else chat.title or None
        if turns and turns[-1].role == "partner" and not header.is_group:
            last = turns[-1]
            turns[-1] = Turn("partner", last.messages + (text,), last.speaker, typed_at, last.message_id)
        else:
            turns.append(Turn("partner", (text,), speaker, typed_at))
        turns = turns[-settings.context_turns:]
    if not turns:
        return header
    memory = await recall(db, settings, chat_id, turns, _window_start(turns, rows))
    return replace(header, turns=tuple(turns), memory=memory)


def _window_start(turns: list[Turn], rows: list[MessageRow]) -> int:
    """The date of the context window's first message: memory recalls only what lies before it.
    A typed message that opened a new session has no stored id: everything stored is before it."""
    first_id = turns[0].message_id
    return next((r.date for r in rows if r.message_id == first_id), turns[0].date)
