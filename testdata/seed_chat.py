"""A small private chat written straight into storage (no export, no importer): the training tests
and the training benchmarks start from it."""

from __future__ import annotations

from pathlib import Path

from storage import ChatRow, Database, MessageRow
from storage import chats as chat_queries
from storage import messages as message_queries

PARTNER_ID = 7
PAIRS = [("hi", "hey"), ("how are you?", "fine, you?"), ("see you", "bye"), ("lol", "haha"), ("ok?", "ok")]


async def seed_chat(db: Database, exchanges: int = 40) -> None:
    """Chat 1 with Anna (a friend): `exchanges` question/answer pairs, three exchanges per session."""
    await chat_queries.upsert_chats(db, [ChatRow(1, "private", "Anna", relationship="friend")])
    rows, t = [], 1_700_000_000
    for i in range(exchanges):
        question, answer = PAIRS[i % len(PAIRS)]
        rows.append(MessageRow(1, 2 * i, PARTNER_ID, "Anna", False, t, question))
        rows.append(MessageRow(1, 2 * i + 1, None, None, True, t + 30, answer))
        t += 4 * 3600 if i % 3 == 2 else 60
    await message_queries.insert_messages(db, rows, "export")


async def seed_data_dir(data_dir: Path, exchanges: int = 40) -> None:
    """A data dir (created) whose database (the settings' `db_path` there) holds `seed_chat`'s chat."""
    data_dir.mkdir(parents=True, exist_ok=True)
    async with Database.open(data_dir / "tgtwin.sqlite3") as db:
        await seed_chat(db, exchanges)
