"""Small pieces every command module shares: the app state, a clean exit on errors, the console."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console

from settings import Settings

T = TypeVar("T")
console = Console()
err_console = Console(stderr=True)

SQLITE_MAX_INT = 2**63 - 1
"""Ids beyond SQLite's 64-bit integers cannot name a stored chat or message."""


@dataclass(frozen=True)
class AppState:
    settings: Settings


def state(ctx: typer.Context) -> AppState:
    return ctx.obj  # type: ignore[no-any-return]


def fail(message: str, code: int = 2) -> NoReturn:
    """Print a one-line reason to stderr and exit (2 = bad input/configuration)."""
    err_console.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine. Database errors end as one clear line, not a traceback: storage's
    named errors (a database that cannot be opened, a newer schema…) say what is wrong themselves;
    a database another process holds locked is SQLite giving up after its busy timeout."""
    from storage.errors import StorageError

    try:
        return asyncio.run(coro)
    except StorageError as exc:
        fail(str(exc))
    except sqlite3.OperationalError as exc:
        if "locked" not in str(exc):
            raise
        fail(
            "the database or Telegram session is in use by another tgtwin process (is `tgtwin run` "
            "running?); stop it first, or use the running app's panel instead"
        )


def check_chat_id(value: int) -> int:
    """A chat id must fit SQLite's integers (Telegram's all do); otherwise one line, exit 2."""
    if not -SQLITE_MAX_INT <= value <= SQLITE_MAX_INT:
        fail(f"--chat {value} is not a Telegram chat id (out of range)")
    return value
