"""A figure derived from the database is computed again only after a write, and once for all the
callers that ask meanwhile, each of whom gets a value computed after it asked."""

from __future__ import annotations

import asyncio

from storage import ChatRow, Database
from storage import chats as chat_queries
from storage.derived import Derived


class ChatCount:
    """A derived figure that records its computations and can be held mid-computation."""

    def __init__(self) -> None:
        self.computed = 0
        self.hold: asyncio.Event | None = None
        self.entered = asyncio.Event()

    async def __call__(self, db: Database) -> int:
        self.computed += 1
        self.entered.set()
        if self.hold is not None:
            await self.hold.wait()
        return len(await chat_queries.list_chats(db))


async def test_computed_again_only_after_a_write(db: Database) -> None:
    count = ChatCount()
    figure = Derived(count)
    assert await figure.get(db) == 0 and await figure.get(db) == 0
    assert count.computed == 1
    await chat_queries.upsert_chats(db, [ChatRow(1, "private", "A")])
    assert await figure.get(db) == 1 and count.computed == 2


async def test_concurrent_callers_share_one_computation(db: Database) -> None:
    count = ChatCount()
    figure = Derived(count)
    values = await asyncio.gather(*(figure.get(db) for _ in range(10)))
    assert values == [0] * 10 and count.computed == 1


async def test_a_caller_asking_during_a_computation_gets_one_begun_after_it_asked(db: Database) -> None:
    count = ChatCount()
    figure = Derived(count)
    count.hold = asyncio.Event()
    early = asyncio.create_task(figure.get(db))
    await count.entered.wait()  # the first computation has read nothing yet and is held
    await chat_queries.upsert_chats(db, [ChatRow(1, "private", "A")])
    late = asyncio.create_task(figure.get(db))
    await asyncio.sleep(0)
    count.hold.set()
    assert await early == 1  # held before its read: it saw the write too
    assert await late == 1 and count.computed == 2  # computed again for the caller who asked later
