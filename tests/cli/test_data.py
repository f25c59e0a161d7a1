"""`import-export` and `status` through the real CLI (main.app)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from settings import Settings
from storage import Database

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "sample_export.json"


def invoke(settings: Settings, *args: str):
    from cli.app import app

    return CliRunner().invoke(app, ["--data-dir", str(settings.data_dir), *args])


def _dump(settings: Settings) -> str:
    async def dump() -> str:
        async with Database.open(settings.db_path) as db:
            return await db.dump()

    return asyncio.run(dump())


def test_import_then_status(settings: Settings) -> None:
    result = invoke(settings, "import-export", str(SAMPLE))
    assert result.exit_code == 0, result.output
    assert "messages added" in result.output
    status = invoke(settings, "status", "--json")
    assert status.exit_code == 0, status.output
    info = json.loads(status.stdout)
    counts = info["counts"]
    for key in ("chats", "messages", "owner_messages", "pending_drafts", "adapters"):
        assert type(counts[key]) is int
    assert counts["chats"] == 5  # the sample's six chats less its bot chat (a service chat, not stored)
    assert 0 < counts["owner_messages"] < counts["messages"]
    assert info["adapter"] is None and info["autoreply_enabled"] is True
    assert info["preference_pairs"] == {"total": 0, "unused": 0, "edited": 0, "own_reply": 0}  # no drafts yet
    assert info["training"]["processes"] == settings.train_processes
    again = invoke(settings, "import-export", str(SAMPLE))
    assert again.exit_code == 0 and "0 messages added" in again.output
    assert json.loads(invoke(settings, "status", "--json").stdout)["counts"]["messages"] == counts["messages"]
    text = invoke(settings, "status")
    assert text.exit_code == 0 and "owner messages" in text.output
    assert "preference pairs    0 (0 not yet trained on)" in text.output


def test_status_of_an_empty_database(settings: Settings) -> None:
    counts = json.loads(invoke(settings, "status", "--json").stdout)["counts"]
    assert (counts["chats"], counts["messages"], counts["owner_messages"]) == (0, 0, 0)


@pytest.mark.parametrize("content", ["not json at all", '{"chats": {"list": [', "[]"])
def test_bad_export_exits_2_with_one_line_and_changes_nothing(settings: Settings, tmp_path: Path, content: str) -> None:
    assert invoke(settings, "import-export", str(SAMPLE)).exit_code == 0
    before = _dump(settings)
    bad = tmp_path / "bad.json"
    bad.write_text(content, encoding="utf-8")
    result = invoke(settings, "import-export", str(bad))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:")
    assert _dump(settings) == before


def test_owner_id_option(settings: Settings, tmp_path: Path) -> None:
    export = tmp_path / "chat.json"
    export.write_text(json.dumps({"name": "Bob", "type": "personal_chat", "id": 7, "messages": [
        {"id": 1, "type": "message", "date_unixtime": "1700000000", "from": "Me", "from_id": "user42", "text": "yo"},
    ]}), encoding="utf-8")
    missing = invoke(settings, "import-export", str(export))
    assert missing.exit_code == 2 and "--owner-id" in missing.stderr
    assert invoke(settings, "import-export", str(export), "--owner-id", "42").exit_code == 0
    info = json.loads(invoke(settings, "status", "--json").stdout)
    assert (info["counts"]["messages"], info["counts"]["owner_messages"], info["owner_id"]) == (1, 1, 42)
