"""Fixtures for bot tests: a fake Telegram server under a real, started kurigram client."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator

import pytest

from settings import Settings
from storage import Database
from testdata.doubles import FakeModel, ManualClock
from testdata.telegram_fake import FakeTelegram, SleepRecorder, fake_transport, make_user, session_string
from tests.bot.live_bot import PARTNER


@pytest.fixture
def server() -> FakeTelegram:
    return FakeTelegram()


@pytest.fixture
def flood_sleeps(server: FakeTelegram) -> Iterator[SleepRecorder]:
    """Patches kurigram's transport to `server`; the recorder holds kurigram's FloodWait sleeps."""
    with fake_transport(server) as recorder:
        yield recorder


@pytest.fixture
async def client(settings: Settings, flood_sleeps: SleepRecorder) -> AsyncIterator[object]:
    """A started kurigram client logged in as the fake owner (built inside the test's loop)."""
    from bot.client import build_client

    tg = build_client(settings, session_string=session_string())
    await tg.start()
    try:
        yield tg
    finally:
        await tg.stop()


@pytest.fixture
def model() -> FakeModel:
    return FakeModel(["sure", "talk later"])


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def bot(settings: Settings, db: Database, server: FakeTelegram, flood_sleeps: SleepRecorder,
              model: FakeModel, clock: ManualClock) -> AsyncIterator[object]:
    """The whole live bot (client, live sync, pipeline) on the fake server; the partner is Alice."""
    from bot.client import build_client
    from bot.runtime import TelegramBot
    from services import Services

    settings = settings.model_copy(update={
        "debounce_seconds": 8.0, "takeover_minutes": 15, "loop_guard_replies": 2,
        "rate_per_chat_per_hour": 10, "rate_global_per_hour": 100, "quiet_hours": "",
        # The virtual clock runs ahead of the messages' real dates: no message here is backlog
        # (tests/bot/test_catch_up.py covers that rule).
        "backlog_answer_minutes": 10**6,
    })
    server.add_user(make_user(PARTNER, "Alice"))
    client = build_client(settings, session_string=session_string())
    async with TelegramBot(Services(settings=settings, db=db, model=model), client=client, clock=clock) as running:
        for _ in range(3):
            await asyncio.sleep(0)  # kurigram adds handlers from a loop task
        yield running


@pytest.fixture(autouse=True)
def _no_errors_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """kurigram's dispatcher only logs handler failures: treat any ERROR log as a test failure."""
    caplog.set_level(logging.INFO)
    yield
    errors = [r for r in caplog.get_records("call") if r.levelno >= logging.ERROR and not getattr(r, "expected", False)]
    assert not errors, [r.getMessage() for r in errors]
