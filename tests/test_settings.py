"""Settings: defaults, environment, validation messages, and `.env.example` kept current."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from typer.testing import CliRunner

from settings import Settings, SettingsError, load_settings, parse_quiet_hours

ROOT = Path(__file__).resolve().parent.parent


def _settings_doc():
    spec = importlib.util.spec_from_file_location("settings_doc", ROOT / "scripts" / "settings_doc.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_defaults_are_the_offline_demo(settings: Settings) -> None:
    plain = load_settings()
    assert plain.data_dir == Path("data") and plain.base_model == "bundled:smollm2-135m"
    assert not plain.telegram_configured and plain.loopback and plain.demo
    assert settings.db_path == settings.data_dir / "tgtwin.sqlite3"


def test_environment_and_dotenv(settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TGTWIN_PORT", "9001")
    monkeypatch.setenv("TGTWIN_BANNED_PHRASES", "as an ai, i cannot ,")
    (tmp_path / ".env").write_text("TGTWIN_CONTEXT_TURNS=4\nTGTWIN_PORT=1\n", encoding="utf-8")
    loaded = load_settings()
    assert loaded.port == 9001  # the environment wins over .env
    assert loaded.context_turns == 4
    assert loaded.banned_phrases == ["as an ai", "i cannot"]


@pytest.mark.parametrize(("env", "needle"), [
    ({"TGTWIN_PORT": "0"}, "TGTWIN_PORT"),
    ({"TGTWIN_PORT": "http"}, "TGTWIN_PORT"),
    ({"TGTWIN_API_ID": "123"}, "TGTWIN_API_ID and TGTWIN_API_HASH must be set together"),
    ({"TGTWIN_ADMIN_TOKEN": "changeme"}, "TGTWIN_ADMIN_TOKEN: Value error, is a placeholder"),
    ({"TGTWIN_ADMIN_TOKEN": "short-token"}, "at least 16 characters"),
    ({"TGTWIN_QUIET_HOURS": "late"}, "TGTWIN_QUIET_HOURS"),
    ({"TGTWIN_TEMPERATURE": "3"}, "TGTWIN_TEMPERATURE"),
    ({"TGTWIN_LOG_LEVEL": "LOUD"}, "TGTWIN_LOG_LEVEL"),
    ({"TGTWIN_RETRAIN_CRON": "not a cron"}, "TGTWIN_RETRAIN_CRON: Value error, 'not a cron' is not a crontab line"),
    ({"TGTWIN_RETRAIN_CRON": "61 4 * * *"}, "TGTWIN_RETRAIN_CRON"),
    ({"TGTWIN_TIMEZONE": "Mars/Olympus"}, "TGTWIN_TIMEZONE: Value error, 'Mars/Olympus' is not an IANA time zone"),
    ({"TGTWIN_TIMEZONE": "../../etc/passwd"}, "TGTWIN_TIMEZONE"),
    ({"TGTWIN_DATA_DIR": ""}, "TGTWIN_DATA_DIR: Value error, is empty"),
    ({"TGTWIN_DATA_DIR": "  "}, "TGTWIN_DATA_DIR: Value error, is empty"),
    ({"TGTWIN_SESSION_NAME": "../x"}, "TGTWIN_SESSION_NAME: Value error, must be a plain file name"),
    ({"TGTWIN_SESSION_NAME": "sub/x"}, "TGTWIN_SESSION_NAME"),
    ({"TGTWIN_SESSION_NAME": "a\\b"}, "TGTWIN_SESSION_NAME"),
    ({"TGTWIN_SESSION_NAME": ".."}, "TGTWIN_SESSION_NAME"),
    ({"TGTWIN_SESSION_NAME": ""}, "TGTWIN_SESSION_NAME"),
])
def test_invalid_settings_name_the_variable(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], needle: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert needle in message and message.startswith("invalid settings:") and "\n" not in message


def test_plain_names_zones_and_crontabs_are_taken(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TGTWIN_SESSION_NAME", "work-2.backup")
    monkeypatch.setenv("TGTWIN_TIMEZONE", "Europe/Berlin")
    monkeypatch.setenv("TGTWIN_RETRAIN_CRON", " 0 4 * * mon-fri ")
    loaded = load_settings()
    assert loaded.session_path == loaded.data_dir / "work-2.backup.session"
    assert (loaded.timezone, loaded.retrain_cron) == ("Europe/Berlin", "0 4 * * mon-fri")


def test_cli_reports_bad_settings_in_one_line_with_exit_2(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from cli.app import app

    monkeypatch.setenv("TGTWIN_PORT", "99999")
    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "TGTWIN_PORT" in result.stderr


def test_quiet_hours_may_wrap_midnight() -> None:
    start, end = parse_quiet_hours("23:00-08:00")  # type: ignore[misc]
    assert (start.hour, end.hour) == (23, 8)
    assert parse_quiet_hours("") is None


def test_env_example_documents_every_field_and_is_current() -> None:
    doc = _settings_doc()
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    assert text == doc.render_env_example(), "run: python scripts/settings_doc.py"
    for name in Settings.model_fields:
        assert f"# TGTWIN_{name.upper()}=" in text
    table = doc.render_markdown()
    assert table.count("\n") == len(Settings.model_fields) + 2
    configuration = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert configuration == doc.render_config_doc(), "run: python scripts/settings_doc.py"
