"""A database that cannot be used as it is raises a named error, and nothing is written to it
(issue 18: a directory at the path, a file that is not SQLite, a newer schema)."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from storage import Database, DatabasePathUnusable, NotADatabase, SchemaTooNew


async def test_a_directory_at_the_database_path_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "tgtwin.sqlite3"
    path.mkdir(mode=0o755)
    with pytest.raises(DatabasePathUnusable, match="is a directory"):
        async with Database.open(path):
            pass
    assert stat.S_IMODE(path.stat().st_mode) == 0o755 and not any(path.iterdir())


async def test_a_file_that_is_not_sqlite_is_refused_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "tgtwin.sqlite3"
    garbage = bytes(range(256)) * 64
    path.write_bytes(garbage)
    path.chmod(0o644)
    with pytest.raises(NotADatabase, match="is not a tgtwin database"):
        async with Database.open(path):
            pass
    assert path.read_bytes() == garbage and stat.S_IMODE(path.stat().st_mode) == 0o644  # not ours to tighten


async def test_another_programs_sqlite_database_is_refused_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE users (name TEXT)")
    before = path.read_bytes()
    with pytest.raises(NotADatabase, match="another program's"):
        async with Database.open(path):
            pass
    assert path.read_bytes() == before


async def test_a_newer_schema_is_refused_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "tgtwin.sqlite3"
    async with Database.open(path) as db:
        await db.execute("INSERT INTO migrations (name, applied_at) VALUES ('9999_from_the_future', 0)")
    before = path.read_bytes()
    with pytest.raises(SchemaTooNew, match="newer tgtwin.*9999_from_the_future"):
        async with Database.open(path):
            pass
    assert path.read_bytes() == before
