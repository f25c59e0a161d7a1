"""The composition root refuses to start the Telegram client while another process holds the session."""

from __future__ import annotations

import pytest

from app_runtime import StartupError, _maybe_telegram
from bot.session_lock import hold_session
from services import Services
from settings import Settings, load_settings
from storage import Database
from tests.admin_ui.fakes import FakeModel
from tests.bot.fake_telegram import API_HASH, API_ID


async def test_a_held_session_is_a_startup_error(db: Database, settings: Settings) -> None:
    configured = load_settings(data_dir=settings.data_dir, base_model="tiny", api_id=API_ID, api_hash=API_HASH)
    configured.session_path.write_bytes(b"")  # a session exists: the client would start
    services = Services(settings=configured, db=db, model=FakeModel())
    with hold_session(configured), pytest.raises(StartupError, match="in use by another tgtwin process"):
        async with _maybe_telegram(services):
            pass
