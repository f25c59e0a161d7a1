"""The SQLite connection: opening it safely, WAL, migrations, and `atomic()` transactions.

One connection is shared by every task of the process (the bot, the panel's requests, background
jobs), and SQLite has one transaction per connection. So a write lock keeps the tasks' writes apart:

- `atomic()` holds the lock from BEGIN to COMMIT or ROLLBACK; a nested `atomic()` in the same task
  is a savepoint.
- A plain `execute`/`executemany` from the task that holds the transaction is part of it. From any
  other task it waits until that transaction has ended, then commits on its own: it can never be
  rolled back by another task's failure. (Before, it joined whatever transaction was open: the
  kill switch turned off during a panel import was undone when the import failed.)
- Reads (`fetchall`, `fetchone`, `scalar`) take no lock. During another task's open transaction
  they see its uncommitted rows (one connection, one view of the data).

The rule this gives: inside `atomic()`, never wait for another task that writes to the same
database; it is waiting for you. A task started inside the transaction (`asyncio.gather`,
`create_task`) that writes before the transaction ends raises `TransactionDeadlock` at once; any
other wait for the lock ends with `WriteWaitTimeout` after `write_wait_seconds`, never hangs.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import os
import sqlite3
import stat
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from storage.errors import (
    DatabasePathUnusable,
    NotADatabase,
    SchemaTooNew,
    TransactionDeadlock,
    WriteWaitTimeout,
)
from storage.migrations import MIGRATIONS

_savepoint_names = itertools.count()

# The transaction open where the current task was started (tasks copy their creator's context), so
# a child task's write inside its parent's transaction is recognised as a deadlock, not waited on.
_started_inside: contextvars.ContextVar[object | None] = contextvars.ContextVar("started_inside", default=None)

WRITE_WAIT_SECONDS = 600.0
"""How long a write waits for another task's transaction. The longest legitimate one is a panel
import, which runs at 30,000-60,000 messages/s (README): ten minutes is some 20 million messages,
and a deadlock still ends as an error."""


def now() -> int:
    """Unix seconds; every timestamp in the database is UTC seconds."""
    return int(time.time())


class Database:
    """One aiosqlite connection. Use `async with Database.open(path) as db:`.

    Writes go through `atomic()` or `execute`/`executemany`, which keep to the write lock (see the
    module docstring); reads through `fetchall`/`fetchone`/`scalar`.
    """

    write_wait_seconds: float = WRITE_WAIT_SECONDS

    def __init__(self, conn: aiosqlite.Connection, path: Path | None) -> None:
        self.conn = conn
        self.path = path
        self._write_lock = asyncio.Lock()
        self._holder: asyncio.Task[Any] | None = None
        """The task that has write access now (for one statement, or for its transaction)."""
        self._transaction: object | None = None
        """A token for the open `atomic()` transaction, None between transactions."""
        self._rollbacks = 0

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, path: Path | str) -> AsyncIterator["Database"]:
        """Open (creating if needed) and migrate. A path that is a directory, a file that is not a
        tgtwin database, or one from a newer tgtwin raises a `DatabaseUnusable` error with nothing
        written to it."""
        path = Path(path)
        on_disk = str(path) != ":memory:"
        if on_disk:
            _check_db_path(path)
            make_private_dir(path.parent)
            _create_private_db_file(path)
        try:
            conn = await aiosqlite.connect(str(path), isolation_level=None)
        except sqlite3.Error as exc:
            raise DatabasePathUnusable(f"cannot open the database {path}: {exc}") from None
        try:
            conn.row_factory = sqlite3.Row
            db = cls(conn, path)
            await conn.execute("PRAGMA busy_timeout=10000")
            await conn.execute("PRAGMA foreign_keys=ON")
            await db._applied_migrations()  # refuses what this code cannot use, before any write
            if on_disk:
                _tighten_db_files(path)
            await conn.execute("PRAGMA journal_mode=WAL")
            await conn.execute("PRAGMA synchronous=NORMAL")
            await db.migrate()
            yield db
        finally:
            await conn.close()

    async def _applied_migrations(self) -> set[str]:
        """The migrations this database records; raises NotADatabase or SchemaTooNew."""
        try:
            tables = {r["name"] for r in await self.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")}
            done = ({r["name"] for r in await self.fetchall("SELECT name FROM migrations")}
                    if "migrations" in tables else set())
        except sqlite3.DatabaseError as exc:
            raise NotADatabase(f"{self.path} is not a tgtwin database ({exc})") from None
        if tables and "migrations" not in tables:
            raise NotADatabase(f"{self.path} is another program's SQLite database, not tgtwin's (no migrations table)")
        unknown = done - {name for name, _ in MIGRATIONS}
        if unknown:
            raise SchemaTooNew(f"the database {self.path} was written by a newer tgtwin (unknown migrations: "
                               f"{', '.join(sorted(unknown))}); upgrade tgtwin to use it")
        return done

    async def migrate(self) -> list[str]:
        """Apply pending migrations in order; return the names applied."""
        done = await self._applied_migrations()
        applied = []
        for name, sql in MIGRATIONS:
            if name in done:
                continue
            async with self.atomic():
                await self.conn.execute(
                    "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)"
                )
                for statement in _split_sql(sql):
                    await self.conn.execute(statement)
                await self.conn.execute(
                    "INSERT INTO migrations (name, applied_at) VALUES (?, ?)", (name, now())
                )
            applied.append(name)
        return applied

    @contextlib.asynccontextmanager
    async def atomic(self) -> AsyncIterator["Database"]:
        """A transaction holding the write lock; nested inside the same task it is a savepoint.
        Rolls back on error (and when COMMIT itself fails)."""
        if self._in_own_transaction():
            async with self._savepoint():
                yield self
            return
        async with self._write_access():
            self._transaction = token = object()
            started_inside = _started_inside.set(token)
            try:
                await self.conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self
                    await self.conn.execute("COMMIT")
                except BaseException:
                    if self.conn.in_transaction:
                        self._rollbacks += 1
                        await self.conn.execute("ROLLBACK")
                    raise
            finally:
                _started_inside.reset(started_inside)
                self._transaction = None

    @contextlib.asynccontextmanager
    async def _savepoint(self) -> AsyncIterator[None]:
        name = f"sp{next(_savepoint_names)}"
        await self.conn.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self._rollbacks += 1
            await self.conn.execute(f"ROLLBACK TO {name}")
            await self.conn.execute(f"RELEASE {name}")
            raise
        await self.conn.execute(f"RELEASE {name}")

    def _in_own_transaction(self) -> bool:
        return self._transaction is not None and self._holder is asyncio.current_task()

    @contextlib.asynccontextmanager
    async def _write_access(self) -> AsyncIterator[None]:
        """The write lock: waits for another task's transaction, refuses to wait for its own parent's."""
        if self._transaction is not None and _started_inside.get() is self._transaction:
            raise TransactionDeadlock(
                f"a task started inside the open transaction of task {_task_name(self._holder)!r} wrote to the "
                "database before that transaction ended (write in the transaction's own task instead)"
            )
        try:
            async with asyncio.timeout(self.write_wait_seconds):
                await self._write_lock.acquire()
        except TimeoutError:
            raise WriteWaitTimeout(
                f"a write waited {self.write_wait_seconds:g} s for the transaction of task "
                f"{_task_name(self._holder)!r} to end"
            ) from None
        self._holder = asyncio.current_task()
        try:
            yield
        finally:
            self._holder = None
            self._write_lock.release()

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[None]:
        """One plain write: inside this task's transaction as it is, otherwise under the lock."""
        if self._in_own_transaction():
            yield
        else:
            async with self._write_access():
                yield

    async def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> aiosqlite.Cursor:
        """Run one writing statement. In this task's `atomic()` it is part of the transaction;
        otherwise it waits for any other task's transaction to end and commits on its own."""
        async with self._write():
            return await self.conn.execute(sql, params)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> int:
        """`execute` for many rows; returns how many rows it changed (ignored inserts do not count, nor
        do the rows triggers write: the memory index's)."""
        async with self._write():
            cursor = await self.conn.executemany(sql, rows)
            return max(cursor.rowcount, 0)

    async def data_version(self) -> tuple[int, int, int]:
        """Moves whenever the data may have changed: rows written or rolled back through this
        connection, or a commit by another connection (another process). O(1), for caches of
        figures derived from the data; it moves on any write, so the cache decides what changed."""
        committed_elsewhere = int(await self.scalar("PRAGMA data_version") or 0)
        return self.conn.total_changes, self._rollbacks, committed_elsewhere

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


def _task_name(task: asyncio.Task[Any] | None) -> str:
    return task.get_name() if task is not None else "?"


def _check_db_path(path: Path) -> None:
    """Refuse a database path that is not a file before anything touches it (a directory would
    otherwise be chmod-ed to 0600 and then fail inside SQLite)."""
    if path.is_dir():
        raise DatabasePathUnusable(f"the database path {path} is a directory, not a database file")
    if path.exists() and not path.is_file():
        raise DatabasePathUnusable(f"the database path {path} is not a regular file")

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


def _create_private_db_file(path: Path) -> None:
    """A new database is created 0600 (SQLite gives its -wal/-shm files the database's mode)."""
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def _tighten_db_files(path: Path) -> None:
    """Files of an older install are made 0600 too, once the file is known to be our database."""
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists() and stat.S_IMODE(file.stat().st_mode) != 0o600:
            os.chmod(file, 0o600)


def _split_sql(script: str) -> list[str]:
    """Split a migration script into statements at line ends where a statement is complete
    (`sqlite3.complete_statement` knows a trigger's BEGIN … END; no semicolons inside our literals)."""
    statements, buf = [], []
    for line in script.splitlines():
        line = line.split("--", 1)[0]
        buf.append(line)
        if line.rstrip().endswith(";") and sqlite3.complete_statement("\n".join(buf)):
            statements.append("\n".join(buf).strip().rstrip(";"))
            buf = []
    tail = "\n".join(buf).strip()
    if tail:
        statements.append(tail)
    return [s for s in statements if s]
