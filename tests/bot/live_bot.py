"""Helpers for tests that run the whole `TelegramBot` on the fake server (the `bot` fixture is in
conftest.py): chat modes, feeding updates, reading the reply log, and a session file as `login`
leaves it (kurigram keeps the update state in it)."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable

from pyrogram import raw

from bot.client import build_client, private_session_storage
from bot.runtime import TelegramBot
from services import Services
from settings import Settings
from storage import ChatRow, Database
from storage import chats as chat_queries
from storage import replies as reply_queries
from testdata.doubles import FakeModel, ManualClock
from testdata.telegram_fake import API_ID, OWNER_ID

PARTNER = 5


async def set_mode(db: Database, chat_id: int, mode: str, chat_type: str = "private") -> None:
    await chat_queries.upsert_chats(db, [ChatRow(chat_id, chat_type, "Alice")])  # type: ignore[arg-type]
    await chat_queries.update_chat_settings(db, chat_id, reply_mode=mode)  # type: ignore[arg-type]


async def feed(bot: TelegramBot, update: raw.types.Updates) -> None:
    """An update from the network, through kurigram's own entry point."""
    assert bot.client is not None
    await bot.client.handle_updates(update)


def logged(db: Database, n: int) -> Callable[[], Awaitable[bool]]:
    """A `wait_until` condition: the reply log has at least `n` rows."""
    async def check() -> bool:
        return len(await reply_queries.list_decisions(db)) >= n
    return check


async def decisions(db: Database) -> list[tuple[int | None, str, str]]:
    """The reply log, oldest first: (message id, decision, reason)."""
    return [(d.message_id, d.decision, d.reason) for d in reversed(await reply_queries.list_decisions(db))]


async def write_session_file(settings: Settings) -> None:
    """A logged-in session file, as `login` leaves it."""
    storage = private_session_storage(settings.session_name, settings.data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    await storage.open()
    for setter, value in ((storage.dc_id, 2), (storage.api_id, API_ID), (storage.test_mode, False),
                          (storage.auth_key, os.urandom(256)), (storage.user_id, OWNER_ID),
                          (storage.is_bot, False), (storage.date, 0)):
        await setter(value)
    await storage.save()
    await storage.close()


def run_bot(settings: Settings, db: Database, model: FakeModel, clock: ManualClock) -> TelegramBot:
    """The bot over the session file in the data dir (write it first)."""
    return TelegramBot(Services(settings=settings, db=db, model=model), client=build_client(settings), clock=clock)
