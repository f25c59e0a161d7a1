"""Seeded histories for the continual-training tests."""

from __future__ import annotations

from storage import ChatRow, Database, MessageRow
from storage import chats as chat_queries
from storage import messages as message_queries

EXCHANGES = 3
SESSION_GAP = 4 * 3600
START = 1_700_000_000


def uniform_session(session: int, chat_id: int = 1) -> list[MessageRow]:
    """Session `session`: three identical exchanges (ids from `6 * session`), a gap after the previous one."""
    t = START + session * SESSION_GAP
    rows = []
    for j in range(EXCHANGES):
        first = session * 2 * EXCHANGES + 2 * j
        rows.append(MessageRow(chat_id, first, 7, "Anna", False, t + 60 * j, "how are you?"))
        rows.append(MessageRow(chat_id, first + 1, None, None, True, t + 60 * j + 30, "fine, you?"))
    return rows


async def seed_uniform_history(db: Database, sessions: int) -> None:
    """`sessions` sessions of three identical exchanges, four hours apart: every training sequence
    has the same length, so a run's order is exactly the coverage order."""
    await chat_queries.upsert_chats(db, [ChatRow(1, "private", "Anna", relationship="friend")])
    await message_queries.insert_messages(db, [r for s in range(sessions) for r in uniform_session(s)], "export")
