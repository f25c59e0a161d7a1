"""Bad command-line input ends with one `error:` line on stderr and exit 2, never a traceback,
and changes nothing (issue 11 item 13)."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from settings import Settings
from storage import Database
from storage import training as training_queries

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "sample_export.json"


def invoke(*args: str):
    from cli.app import app

    return CliRunner().invoke(app, list(args))


def one_error_line(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_a_data_dir_that_is_not_a_directory() -> None:
    assert "/dev/null is not usable" in one_error_line(invoke("--data-dir", "/dev/null", "status"))


@pytest.mark.parametrize("chat", [str(2**63), str(-(2**64)), "99999999999999999999999"])
def test_reply_to_a_chat_id_beyond_64_bits(settings: Settings, chat: str) -> None:
    line = one_error_line(invoke("--data-dir", str(settings.data_dir), "reply", "--chat", chat, "hi"))
    assert f"--chat {chat} is not a Telegram chat id" in line


@pytest.mark.parametrize("text", ["", "   "])
def test_reply_to_an_empty_message(settings: Settings, text: str) -> None:
    line = one_error_line(invoke("--data-dir", str(settings.data_dir), "reply", "--chat", "5", text))
    assert "empty" in line


@pytest.mark.parametrize("command", ["serve", "run"])
@pytest.mark.parametrize("port", ["70000", "-1", "0"])
def test_a_port_outside_1_to_65535(settings: Settings, command: str, port: str) -> None:
    line = one_error_line(invoke("--data-dir", str(settings.data_dir), command, "--port", port))
    assert f"--port {port} is not a TCP port" in line


@pytest.mark.parametrize("steps", ["-5", "0"])
def test_train_refuses_a_step_limit_below_one(settings: Settings, steps: str) -> None:
    line = one_error_line(invoke("--data-dir", str(settings.data_dir), "train", "--max-steps", steps))
    assert "--max-steps must be at least 1" in line

    async def runs() -> list:
        async with Database.open(settings.db_path) as db:
            return await training_queries.list_runs(db)

    assert asyncio.run(runs()) == []  # refused before anything was recorded


@pytest.mark.parametrize("preset", ["huge-gpu-thing", "../../training/presets/tiny"])
def test_train_refuses_an_unknown_preset_as_the_panel_does(settings: Settings, preset: str) -> None:
    """`train` and the panel's start share one preset check (`application.training_actions`): only a
    shipped preset's name is read, and the refusal names the known ones."""
    line = one_error_line(invoke("--data-dir", str(settings.data_dir), "train", "--preset", preset))
    assert f"unknown preset {preset!r}; choose one of" in line and "tiny" in line

    async def runs() -> list:
        async with Database.open(settings.db_path) as db:
            return await training_queries.list_runs(db)

    assert asyncio.run(runs()) == []


def test_the_data_dir_its_database_and_logs_are_private(settings: Settings) -> None:
    data = settings.data_dir
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)  # an install from before the fix
    old_db = settings.db_path
    old_db.touch()
    os.chmod(old_db, 0o644)
    assert invoke("--data-dir", str(data), "status").exit_code == 0
    mode = lambda p: stat.S_IMODE(Path(p).stat().st_mode)  # noqa: E731
    assert mode(data) == 0o700 and mode(data / "logs") == 0o700
    assert mode(old_db) == 0o600
    logs = list((data / "logs").iterdir())
    assert logs and all(mode(p) == 0o600 for p in logs)


async def test_a_new_database_and_its_wal_files_are_0600(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "tgtwin.sqlite3"
    async with Database.open(path) as db:
        await db.execute("CREATE TABLE t (x)")
        wal = [p for p in path.parent.iterdir() if p.name.endswith(("-wal", "-shm"))]
        assert wal, "WAL mode keeps -wal/-shm files open"
        assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in [path, *wal])
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_a_shared_sticky_directory_is_left_as_it_is_with_a_warning(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)  # like /tmp
    result = invoke("--data-dir", str(shared), "status")
    assert result.exit_code == 0
    assert "is open to other users (mode 1777)" in " ".join(result.stderr.split())
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    assert stat.S_IMODE((shared / "tgtwin.sqlite3").stat().st_mode) == 0o600


def test_everything_a_command_writes_under_the_data_dir_is_private(
    model_settings: Settings, tiny_dir: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The CLI sets umask 077 itself: even started with a permissive 022, what an import and
    `dataset --out` create is 0600 and every directory, nested new ones too, 0700."""
    monkeypatch.setenv("TGTWIN_BASE_MODEL", "tiny")  # already built, in the session's models dir
    os.umask(0o022)  # restored after the test (tests/conftest.py)
    data = model_settings.data_dir
    assert invoke("--data-dir", str(data), "import-export", str(SAMPLE)).exit_code == 0
    out = data / "exports" / "2024" / "examples.jsonl"
    result = invoke("--data-dir", str(data), "dataset", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8").count("\n") > 10
    paths = [data, *(p for p in data.rglob("*") if p != model_settings.models_dir)]  # the fixture's link
    assert {p.name for p in paths} >= {"tgtwin.sqlite3", "logs", "exports", "2024", "examples.jsonl"}
    wider = {str(p): oct(stat.S_IMODE(p.stat().st_mode)) for p in paths
             if stat.S_IMODE(p.stat().st_mode) != (0o700 if p.is_dir() else 0o600)}
    assert wider == {}
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".part")]


@pytest.mark.parametrize(("env", "needle"), [
    ({"TGTWIN_RETRAIN_CRON": "not a cron"}, "TGTWIN_RETRAIN_CRON"),
    ({"TGTWIN_TIMEZONE": "Mars/Olympus"}, "TGTWIN_TIMEZONE"),
    ({"TGTWIN_SESSION_NAME": "../x"}, "TGTWIN_SESSION_NAME"),
    ({"TGTWIN_DATA_DIR": ""}, "TGTWIN_DATA_DIR"),
])
def test_bad_settings_are_refused_before_anything_is_written(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], needle: str,
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    cwd = Path.cwd()
    before = sorted(cwd.rglob("*"))
    line = one_error_line(invoke("status"))
    assert line.startswith(f"error: invalid settings: {needle}: ")
    assert sorted(cwd.rglob("*")) == before  # no data dir, no database, no log, no session file


def test_an_empty_data_dir_option_is_refused(settings: Settings) -> None:
    before = sorted(Path.cwd().rglob("*"))
    line = one_error_line(invoke("--data-dir", "", "status"))
    assert "TGTWIN_DATA_DIR: Value error, is empty" in line
    assert sorted(Path.cwd().rglob("*")) == before


def test_reply_to_text_that_is_not_utf8(settings: Settings) -> None:
    # What Python makes of the argv byte 0xff (`reply --chat 5 $'\xff'`): a lone surrogate.
    line = one_error_line(invoke("--data-dir", str(settings.data_dir), "reply", "--chat", "5", "hi \udcff"))
    assert "not valid UTF-8 text" in line


@pytest.mark.parametrize(("where", "needle"), [
    ("under a file", "cannot create a file there (a parent of it is a file, not a directory)"),
    ("at a directory", "is a directory; name a file"),
    ("under /proc", "cannot create a file there"),
    ("in /proc", "cannot create a file there"),
])
def test_dataset_out_where_no_file_can_be_written(
    model_settings: Settings, tiny_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str, needle: str,
) -> None:
    if "/proc" in where and not Path("/proc/self").is_dir():
        pytest.skip("no /proc on this system")
    monkeypatch.setenv("TGTWIN_BASE_MODEL", "tiny")  # /proc refuses only the write, after the build
    settings = model_settings
    afile = tmp_path / "afile"
    afile.write_text("keep me", encoding="utf-8")
    (tmp_path / "adir").mkdir()
    out = {
        "under a file": afile / "sub" / "x.jsonl",
        "at a directory": tmp_path / "adir",
        "under /proc": Path("/proc/tgtwin-test/x.jsonl"),
        "in /proc": Path("/proc/tgtwin-test.jsonl"),
    }[where]
    outside_data = lambda: sorted(p for p in tmp_path.rglob("*") if not p.is_relative_to(settings.data_dir))  # noqa: E731
    before = outside_data()
    line = one_error_line(invoke("--data-dir", str(settings.data_dir), "dataset", "--out", str(out)))
    assert line.startswith(f"error: --out {out}") and needle in line
    assert outside_data() == before  # no file, no directory, no left-over temporary file
    assert afile.read_text(encoding="utf-8") == "keep me"
