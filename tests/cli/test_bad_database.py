"""A database the CLI cannot use ends with one `error:` line and exit 2, never a traceback, and
nothing is written to it (issue 18): a directory at the database path, a file that is not SQLite,
a database from a newer tgtwin."""

from __future__ import annotations

import asyncio
import socket
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from settings import Settings
from storage import Database

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "sample_export.json"


def _free_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return str(sock.getsockname()[1])


COMMANDS: dict[str, Callable[[], tuple[str, ...]]] = {
    "status": lambda: ("status",),
    "import-export": lambda: ("import-export", str(SAMPLE)),
    "serve": lambda: ("serve", "--port", _free_port()),  # binds its port, then opens the database
}


def _directory(path: Path) -> None:
    path.mkdir(mode=0o755)


def _garbage(path: Path) -> None:
    path.write_bytes(b"this is not an SQLite database\n" * 200)


def _newer_schema(path: Path) -> None:
    async def write() -> None:
        async with Database.open(path) as db:
            await db.execute("INSERT INTO migrations (name, applied_at) VALUES ('9999_from_the_future', 0)")

    asyncio.run(write())


def _snapshot(path: Path) -> tuple[int, bytes]:
    mode = stat.S_IMODE(path.stat().st_mode)
    return mode, b"" if path.is_dir() else path.read_bytes()


CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "a directory": (_directory, "is a directory, not a database file"),
    "not SQLite": (_garbage, "is not a tgtwin database"),
    "a newer schema": (_newer_schema, "was written by a newer tgtwin (unknown migrations: 9999_from_the_future)"),
}


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("case", list(CASES))
def test_an_unusable_database_is_one_line_and_left_untouched(settings: Settings, case: str, command: str) -> None:
    from cli.app import app

    make, reason = CASES[case]
    settings.data_dir.mkdir(mode=0o700)
    make(settings.db_path)
    before = _snapshot(settings.db_path)
    result = CliRunner().invoke(app, ["--data-dir", str(settings.data_dir), *COMMANDS[command]()])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and reason in lines[0], result.stderr
    assert str(settings.db_path) in lines[0]
    assert _snapshot(settings.db_path) == before
