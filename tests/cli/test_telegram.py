"""`login` and `harvest` through the real CLI, with kurigram talking to the fake server."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.client import NotLoggedIn, TelegramNotConfigured, build_client
from settings import Settings, load_settings
from testdata.telegram_fake import API_HASH, API_ID, FakeTelegram, make_message, make_user, session_string


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch, flood_sleeps) -> Path:
    monkeypatch.setenv("TGTWIN_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("TGTWIN_API_ID", str(API_ID))
    monkeypatch.setenv("TGTWIN_API_HASH", API_HASH)
    return settings.data_dir


def invoke(*args: str):
    from cli.app import app

    return CliRunner().invoke(app, list(args))


def test_missing_credentials_is_a_clear_error(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TGTWIN_DATA_DIR", str(settings.data_dir))
    result = invoke("login", "--session-string", session_string())
    assert result.exit_code == 2
    assert "TGTWIN_API_ID" in result.output
    with pytest.raises(TelegramNotConfigured):
        build_client(settings)


def test_no_session_yet(settings: Settings) -> None:
    configured = load_settings(data_dir=settings.data_dir, api_id=API_ID, api_hash=API_HASH)
    with pytest.raises(NotLoggedIn, match="main.py login"):
        build_client(configured)


def test_login_with_session_string_then_harvest(cli_env: Path, server: FakeTelegram) -> None:
    secret = session_string()
    result = invoke("login", "--session-string", secret)
    assert result.exit_code == 0, result.output
    assert "Logged in as Owner (id 1000)" in result.output
    assert secret not in result.output
    session_file = cli_env / "tgtwin.session"
    assert stat.S_IMODE(session_file.stat().st_mode) == 0o600
    log_text = "".join(p.read_text() for p in (cli_env / "logs").glob("*.log"))
    assert secret not in log_text

    again = invoke("login", "--session-string", secret)
    assert again.exit_code == 2 and "--force" in again.output

    server.add_user(make_user(5, "Alice"))
    server.set_history(5, [make_message(i, 5, text=f"m{i}", date=1_700_000_000 + i) for i in range(1, 151)])
    harvested = invoke("harvest", "--chat", "5")
    assert harvested.exit_code == 0, harvested.output
    assert "150 message(s) stored" in harvested.output
    rerun = invoke("harvest", "--chat", "5")
    assert "0 message(s) stored" in rerun.output


def test_bad_session_string_is_not_echoed(cli_env: Path) -> None:
    result = invoke("login", "--session-string", "not-a-session")
    assert result.exit_code == 2
    assert "not valid" in result.output and "not-a-session" not in result.output


def test_harvest_needs_a_target(cli_env: Path) -> None:
    result = invoke("harvest")
    assert result.exit_code == 2 and "--all-private" in result.output


def test_harvest_while_the_session_is_held_says_so_in_one_line(cli_env: Path, server: FakeTelegram) -> None:
    """`run` holds the session (and the database); a second process gets one line and exit 2."""
    assert invoke("login", "--session-string", session_string()).exit_code == 0
    holder = sqlite3.connect(cli_env / "tgtwin.session", isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        result = invoke("harvest", "--chat", "5")
    finally:
        holder.close()
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "in use by another tgtwin process" in lines[0], result.stderr
    assert "Traceback" not in result.output


def test_harvest_refuses_a_chat_id_beyond_64_bits(cli_env: Path) -> None:
    result = invoke("harvest", "--chat", str(2**70))
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [f"error: --chat {2**70} is not a Telegram chat id (out of range)"]


def test_harvest_and_login_while_run_holds_the_session(cli_env: Path, settings: Settings) -> None:
    """`tgtwin run` holds the session lock while its client runs (application.runtime._telegram_session)."""
    from bot.session_lock import hold_session

    with hold_session(settings):
        for args in (("harvest", "--chat", "5"), ("login", "--session-string", session_string())):
            result = invoke(*args)
            assert result.exit_code == 2, result.output
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and "in use by another tgtwin process" in lines[0], result.stderr
    assert not (cli_env / "tgtwin.session").exists()  # the refused login wrote nothing


def test_timing_command_prints_the_learned_pace_as_json(cli_env: Path) -> None:
    import json

    result = invoke("timing", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["chat_id"] is None
    assert report["chars_per_second"]["learned"] is False  # empty database: the documented defaults
    assert set(report) == {"chat_id", "answer_delay_seconds", "chars_per_second", "turn_gap_seconds"}
