"""The SQLite connection: WAL, migrations, and `atomic()` transactions with nested savepoints."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import sqlite3
import stat
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from storage.errors import SchemaTooNew
from storage.migrations import MIGRATIONS

_savepoint_names = itertools.count()


def now() -> int:
    """Unix seconds; every timestamp in the database is UTC seconds."""
    return int(time.time())


class Database:
    """One aiosqlite connection. Use `async with Database.open(path) as db:`.

    Writes go through `atomic()`; a lock serialises transactions from concurrent tasks, and
    nested `atomic()` calls inside one task become savepoints.
    """

    def __init__(self, conn: aiosqlite.Connection, path: Path | None) -> None:
        self.conn = conn
        self.path = path
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None
        self._depth = 0

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, path: Path | str) -> AsyncIterator["Database"]:
        path = Path(path)
        if str(path) != ":memory:":
            make_private_dir(path.parent)
            _make_private_db_files(path)
        conn = await aiosqlite.connect(str(path), isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            await conn.execute("PRAGMA journal_mode=WAL")
            await conn.execute("PRAGMA synchronous=NORMAL")
            await conn.execute("PRAGMA foreign_keys=ON")
            await conn.execute("PRAGMA busy_timeout=10000")
            db = cls(conn, path)
            await db.migrate()
            yield db
        finally:
            await conn.close()

    async def migrate(self) -> list[str]:
        """Apply pending migrations in order; return the names applied."""
        await self.conn.execute(
            "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)"
        )
        rows = await self.fetchall("SELECT name FROM migrations")
        done = {r["name"] for r in rows}
        known = {name for name, _ in MIGRATIONS}
        if done - known:
            raise SchemaTooNew(f"database has unknown migrations: {sorted(done - known)}")
        applied = []
        for name, sql in MIGRATIONS:
            if name in done:
                continue
            async with self.atomic():
                for statement in _split_sql(sql):
                    await self.conn.execute(statement)
                await self.conn.execute(
                    "INSERT INTO migrations (name, applied_at) VALUES (?, ?)", (name, now())
                )
            applied.append(name)
        return applied

    @contextlib.asynccontextmanager
    async def atomic(self) -> AsyncIterator["Database"]:
        """A transaction; nested inside the same task it is a savepoint. Rolls back on error."""
        task = asyncio.current_task()
        if self._owner is task and self._depth > 0:
            name = f"sp{next(_savepoint_names)}"
            await self.conn.execute(f"SAVEPOINT {name}")
            self._depth += 1
            try:
                yield self
            except BaseException:
                await self.conn.execute(f"ROLLBACK TO {name}")
                await self.conn.execute(f"RELEASE {name}")
                raise
            else:
                await self.conn.execute(f"RELEASE {name}")
            finally:
                self._depth -= 1
            return
        async with self._lock:
            self._owner, self._depth = task, 1
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                await self.conn.execute("ROLLBACK")
                raise
            else:
                await self.conn.execute("COMMIT")
            finally:
                self._owner, self._depth = None, 0

    async def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> aiosqlite.Cursor:
        """Run one statement. Outside `atomic()` SQLite commits it on its own."""
        return await self.conn.execute(sql, params)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self.conn.executemany(sql, rows)

    async def fetchall(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        async with self.conn.execute(sql, params) as cur:
            return list(await cur.fetchall())

    async def fetchone(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Row | None:
        async with self.conn.execute(sql, params) as cur:
            return await cur.fetchone()

    async def scalar(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    async def dump(self) -> str:
        """The whole database as SQL text (for before/after comparisons)."""

        return "\n".join([line async for line in self.conn.iterdump()])


def make_private_dir(path: Path) -> None:
    """Create `path` (and parents) if needed and make it 0700: the data dir holds personal messages,
    the Telegram session and tokens. Existing installs are tightened on the next open."""
    path.mkdir(parents=True, exist_ok=True)
    info = path.stat()
    if not stat.S_ISDIR(info.st_mode):
        raise NotADirectoryError(20, "not a directory", str(path))
    # A shared directory (sticky, like /tmp) or someone else's is not ours to lock down.
    if info.st_uid == os.getuid() and not info.st_mode & stat.S_ISVTX and stat.S_IMODE(info.st_mode) != 0o700:
        os.chmod(path, 0o700)


def _make_private_db_files(path: Path) -> None:
    """The database is created 0600 (SQLite gives its -wal/-shm files the database's mode); files of
    an older install are tightened too."""
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists() and stat.S_IMODE(file.stat().st_mode) != 0o600:
            os.chmod(file, 0o600)


def _split_sql(script: str) -> list[str]:
    """Split a migration script into statements (no semicolons inside our literals)."""
    statements, buf = [], []
    for line in script.splitlines():
        line = line.split("--", 1)[0]
        buf.append(line)
        if line.rstrip().endswith(";"):
            statements.append("\n".join(buf).strip().rstrip(";"))
            buf = []
    tail = "\n".join(buf).strip()
    if tail:
        statements.append(tail)
    return [s for s in statements if s]
