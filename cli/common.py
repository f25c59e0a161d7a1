"""Small pieces every package's CLI module shares: the app state and a clean exit on errors."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console

from settings import Settings

T = TypeVar("T")
console = Console()
err_console = Console(stderr=True)


@dataclass
class AppState:
    settings: Settings


def state(ctx: typer.Context) -> AppState:
    return ctx.obj  # type: ignore[no-any-return]


def fail(message: str, code: int = 2) -> NoReturn:
    """Print a one-line reason to stderr and exit (2 = bad input/configuration)."""
    err_console.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)
