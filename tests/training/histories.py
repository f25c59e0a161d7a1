"""Seeded histories for the continual-training and memory tests."""

from __future__ import annotations

from storage import ChatRow, Database, MessageRow
from storage import chats as chat_queries
from storage import messages as message_queries
from training.data.dataset import heldout_session

EXCHANGES = 3
SESSION_GAP = 4 * 3600
START = 1_700_000_000
DAY = 86_400

Session = tuple[int, bool, list[tuple[bool, str]]]
FACT_SESSIONS: list[Session] = [
    (0, False, [(False, "we adopted a puppy, his name is Rex"), (True, "aww, love that"), (False, "he is tiny"),
                (True, "send photos")]),
    (2, True, [(False, "I booked the trip to Lisbon"), (True, "nice, when?"), (False, "in May, with Rex at mum's"),
               (True, "jealous")]),
    (4, False, [(False, "how is Rex doing? still going to Lisbon?"), (True, "rex is great"),
                (False, "good to hear"), (True, "yes, Lisbon in May")]),
    (6, False, [(False, "Rex learned to sit, we also visit Porto"), (True, "good boy")]),
    (8, True, [(False, "Porto was lovely, Lisbon next. Rex says hi"), (True, "glad you had fun")]),
]
"""Anna's chat, a session every two days: (day, held out?, lines (by the owner?, text)). Rex is named
on day 0 and asked about on day 4; Lisbon is said on day 2 (held out) and asked about on day 4."""


def fact_history(chat_id: int = 1, sessions: list[Session] = FACT_SESSIONS, first: int = 1) -> list[MessageRow]:
    """`sessions` as stored messages a minute apart, ids from `first` on; each session's first id is
    chosen so that the stable split (`heldout_session`) puts it on the side the session asks for."""
    rows: list[MessageRow] = []
    next_id = first
    for day, held_out, lines in sessions:
        next_id = next(i for i in range(next_id, next_id + 10_000) if heldout_session(chat_id, i) == held_out)
        for n, (owner, text) in enumerate(lines):
            rows.append(MessageRow(chat_id, next_id, None if owner else 77, None if owner else "Anna", owner,
                                   START + day * DAY + 60 * n, text))
            next_id += 1
    return rows


async def store_chat(db: Database, rows: list[MessageRow], chat_id: int = 1, title: str = "Anna") -> None:
    """A private chat in reply mode `draft` (so live recall answers for it too) with `rows`."""
    await chat_queries.upsert_chats(db, [ChatRow(chat_id, "private", title)])
    await chat_queries.update_chat_settings(db, chat_id, reply_mode="draft")
    await message_queries.insert_messages(db, rows, "export")


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
