"""Writes of one task never join another task's transaction (issue 18 item 3): they wait for it to
end and commit on their own, so someone else's rollback cannot undo them; waits cannot hang."""

from __future__ import annotations

import asyncio

import pytest

from storage import ChatRow, Database, TransactionDeadlock, WriteWaitTimeout, kv
from storage import chats as chat_queries


async def _open_transaction(db: Database, opened: asyncio.Event, finish: asyncio.Event, fail: bool) -> None:
    """A long job (an import): writes in one transaction, then waits for `finish`, then fails or commits."""
    async with db.atomic():
        await chat_queries.upsert_chats(db, [ChatRow(1, "private", "Imported")])
        opened.set()
        await finish.wait()
        if fail:
            raise RuntimeError("the import failed")


async def test_a_plain_write_waits_for_another_tasks_transaction_and_survives_its_rollback(db: Database) -> None:
    opened, finish = asyncio.Event(), asyncio.Event()
    job = asyncio.create_task(_open_transaction(db, opened, finish, fail=True), name="import")
    await opened.wait()
    switch_off = asyncio.create_task(kv.set_value(db, kv.AUTOREPLY_ENABLED, False))
    new_chat = asyncio.create_task(chat_queries.upsert_chats(db, [ChatRow(2, "private", "Live")]))
    await asyncio.sleep(0)
    finish.set()
    with pytest.raises(RuntimeError, match="the import failed"):
        await job
    await asyncio.gather(switch_off, new_chat)
    assert await kv.autoreply_enabled(db) is False
    assert [c.id for c in await chat_queries.list_chats(db)] == [2]  # the import's chat is rolled back


async def test_a_write_in_the_transactions_own_task_is_part_of_it(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.atomic():
            await kv.set_value(db, kv.AUTOREPLY_ENABLED, False)
            async with db.atomic():  # nested in the same task: a savepoint, no wait for itself
                await chat_queries.upsert_chats(db, [ChatRow(3, "private", "C")])
            raise RuntimeError("boom")
    assert await kv.autoreply_enabled(db) is True
    assert await chat_queries.list_chats(db) == []


async def test_transactions_of_two_tasks_run_one_after_the_other(db: Database) -> None:
    opened, finish = asyncio.Event(), asyncio.Event()
    job = asyncio.create_task(_open_transaction(db, opened, finish, fail=False))
    await opened.wait()

    async def second() -> None:
        async with db.atomic():
            await chat_queries.upsert_chats(db, [ChatRow(4, "private", "Second")])

    waiting = asyncio.create_task(second())
    await asyncio.sleep(0)
    finish.set()
    await asyncio.gather(job, waiting)
    assert [c.id for c in await chat_queries.list_chats(db)] == [1, 4]


async def test_a_task_started_inside_a_transaction_that_writes_fails_instead_of_deadlocking(db: Database) -> None:
    with pytest.raises(TransactionDeadlock, match="started inside the open transaction"):
        async with db.atomic():
            await chat_queries.upsert_chats(db, [ChatRow(5, "private", "E")])
            await asyncio.gather(kv.set_value(db, kv.AUTOREPLY_ENABLED, False))  # a child task
    assert await chat_queries.list_chats(db) == []  # the transaction rolled back
    await kv.set_value(db, kv.AUTOREPLY_ENABLED, False)  # and the lock is free again
    assert await kv.autoreply_enabled(db) is False


async def test_a_write_gives_up_waiting_with_a_named_error(db: Database) -> None:
    opened, finish = asyncio.Event(), asyncio.Event()
    job = asyncio.create_task(_open_transaction(db, opened, finish, fail=False), name="long-import")
    await opened.wait()
    db.write_wait_seconds = 0  # give up at the first wait
    with pytest.raises(WriteWaitTimeout, match="'long-import'"):
        await kv.set_value(db, kv.AUTOREPLY_ENABLED, False)
    finish.set()
    await job
    assert await kv.autoreply_enabled(db) is True
    assert [c.id for c in await chat_queries.list_chats(db)] == [1]  # the other transaction was untouched
