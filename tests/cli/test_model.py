"""`main.py reply --chat ID "text"`: context from the stored chat, the promoted adapter, printed reply."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import model.service as service_module
from model.candidates import ChosenReplies
from model.status import ModelStatus
from settings import Settings
from storage import ChatRow, Database, MessageRow
from storage import chats as chat_queries
from storage import messages as message_queries
from storage import training as training_queries


async def seed(settings: Settings, adapter: Path | None = None) -> None:
    """A chat whose last exchange was a minute ago: the typed message continues that session."""
    recent = int(time.time()) - 60
    async with Database.open(settings.db_path) as db:
        await chat_queries.upsert_chats(db, [ChatRow(5, "private", "Anna")])
        await message_queries.insert_messages(db, [
            MessageRow(5, 1, 7, "Anna", False, recent, "hi"),
            MessageRow(5, 2, None, None, True, recent + 10, "hey"),
        ], "export")
        if adapter is not None:
            await training_queries.add_adapter(db, "a1", str(adapter), "tiny", None)
            await training_queries.promote(db, "a1", "test")


def invoke(settings: Settings, *args: str) -> Any:
    from cli.app import app

    return CliRunner().invoke(app, ["--data-dir", str(settings.data_dir), "reply", *args])


@pytest.fixture
def cli_settings(model_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("TGTWIN_BASE_MODEL", "tiny")
    monkeypatch.setenv("TGTWIN_MAX_NEW_TOKENS", "4")
    return model_settings


def test_reply_uses_stored_context_and_the_promoted_adapter(cli_settings: Settings, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    class FakeService:
        def __init__(self, settings: Settings, adapter_dir: str | None = None) -> None:
            seen["adapter_dir"] = adapter_dir

        async def __aenter__(self) -> FakeService:
            return self

        async def __aexit__(self, *exc: object) -> None:
            return None

        async def wait_ready(self, timeout: float | None = None) -> None:
            return None

        def status(self) -> ModelStatus:
            return ModelStatus(backend="fake", state="ready", base_model="tiny")

        async def candidates(self, dialogue: Any, n: int) -> ChosenReplies:
            seen["dialogue"] = dialogue
            return ChosenReplies([["sure", "see you"]] * n)

    asyncio.run(seed(cli_settings, adapter=tmp_path / "adapter"))
    monkeypatch.setattr(service_module, "ModelService", FakeService)
    result = invoke(cli_settings, "--chat", "5", "are you coming?")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["sure", "see you"]
    assert seen["adapter_dir"] == str(tmp_path / "adapter")
    turns = seen["dialogue"].turns
    assert [t.text for t in turns] == ["hi", "hey", "are you coming?"]
    assert seen["dialogue"].partner_name == "Anna"


def test_reply_with_the_real_tiny_model(cli_settings: Settings) -> None:
    asyncio.run(seed(cli_settings))
    result = invoke(cli_settings, "--chat", "5", "are you coming?", "--candidates", "2")
    assert result.exit_code == 0, result.output
    assert result.output.count("--- candidate") == 2


def test_unknown_chat_fails_cleanly(cli_settings: Settings) -> None:
    asyncio.run(seed(cli_settings))
    result = invoke(cli_settings, "--chat", "999", "hello")
    assert result.exit_code == 2
    assert "999" in result.output and "Traceback" not in result.output
