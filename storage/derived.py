"""Figures derived from the database (counts for the status), kept until the data may have changed.

Many callers ask at once (every open panel polls `/api/status`), and a figure can take long to
compute. A `Derived` computes it once for all of them: a caller gets the last value while
`Database.data_version` has not moved, and otherwise waits for one computation that began after
it asked, shared with everyone else who asked meanwhile (single flight).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from storage.db import Database

T = TypeVar("T")


class Derived(Generic[T]):
    """One figure of one database (pass the same `db` to every `get`)."""

    def __init__(self, compute: Callable[[Database], Awaitable[T]]) -> None:
        self._compute = compute
        self._value: T | None = None
        self._version: tuple[int, ...] | None = None
        self._lock = asyncio.Lock()
        self._started = 0
        self._finished = 0
        """Computations are numbered as they start; this is the number of the last one to finish."""

    async def get(self, db: Database) -> T:
        """The figure as of this call or later."""
        asked_after = self._started
        if self._value is not None and await db.data_version() == self._version:
            return self._value
        async with self._lock:
            # While this call waited, a computation that began after it asked may have finished,
            # or the data may not have moved since the last one began.
            if self._value is not None and (self._finished > asked_after or await db.data_version() == self._version):
                return self._value
            self._started += 1
            number = self._started
            version = await db.data_version()  # before reading: a write during the computation is seen next time
            value = await self._compute(db)
            self._value, self._version, self._finished = value, version, number
            return value
