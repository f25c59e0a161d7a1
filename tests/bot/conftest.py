"""Fixtures for bot tests: a fake Telegram server under a real, started kurigram client."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import pytest

from settings import Settings
from tests.bot.fake_telegram import FakeTelegram, SleepRecorder, fake_transport, session_string


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


@pytest.fixture(autouse=True)
def _no_errors_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """kurigram's dispatcher only logs handler failures: treat any ERROR log as a test failure."""
    caplog.set_level(logging.INFO)
    yield
    errors = [r for r in caplog.get_records("call") if r.levelno >= logging.ERROR and not getattr(r, "expected", False)]
    assert not errors, [r.getMessage() for r in errors]
