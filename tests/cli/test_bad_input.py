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


def test_a_shared_sticky_directory_is_left_as_it_is(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)  # like /tmp
    assert invoke("--data-dir", str(shared), "status").exit_code == 0
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    assert stat.S_IMODE((shared / "tgtwin.sqlite3").stat().st_mode) == 0o600
