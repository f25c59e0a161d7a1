"""ReplyPipeline behaviour that does not need Telegram: restart memory, shutdown, odd model output,
and the owner stepping in mid-reply. A fake Outbox records what would have gone out."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.pipeline import ReplyPipeline
from bot.policy import IncomingMessage
from settings import Settings
from storage import ChatRow, Database, MessageRow
from storage import chats as chat_queries
from storage import messages as message_queries
from storage import replies as reply_queries
from testdata.doubles import FakeModel, ManualClock, wait_until

CHAT = 5


class FakeOutbox:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int, str]] = []
        self.next_id = 1000
        self.on_typing = None

    async def send_typing(self, chat_id: int) -> None:
        self.calls.append(("typing", chat_id, ""))
        if self.on_typing is not None:
            await self.on_typing()

    async def send_text(self, chat_id: int, text: str) -> int:
        self.calls.append(("send", chat_id, text))
        self.next_id += 1
        return self.next_id

    async def save_draft(self, chat_id: int, text: str) -> None:
        self.calls.append(("draft", chat_id, text))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def chat(db: Database) -> AsyncIterator[None]:
    await chat_queries.upsert_chats(db, [ChatRow(CHAT, "private", "Alice")])
    await chat_queries.update_chat_settings(db, CHAT, reply_mode="auto")
    yield


def pipeline_for(db: Database, settings: Settings, clock: ManualClock,
                 model: FakeModel) -> tuple[ReplyPipeline, FakeOutbox]:
    outbox = FakeOutbox()
    tuned = settings.model_copy(update={"loop_guard_replies": 2, "rate_global_per_hour": 100, "quiet_hours": ""})
    return ReplyPipeline(db, tuned, model, outbox, clock=clock), outbox


async def incoming(db: Database, pipeline: ReplyPipeline, message_id: int, text: str, date: float) -> None:
    await message_queries.upsert_messages(db, [MessageRow(CHAT, message_id, CHAT, "Alice", False, int(date), text)])
    await pipeline.on_incoming(IncomingMessage(CHAT, message_id, "private", text))


async def answer(db: Database, pipeline: ReplyPipeline, clock: ManualClock, message_id: int, text: str = "hi") -> str:
    before = len(await reply_queries.list_decisions(db))
    await incoming(db, pipeline, message_id, text, clock.now())

    async def done() -> bool:
        return len(await reply_queries.list_decisions(db)) > before
    await wait_until(done, clock=clock)
    return (await reply_queries.list_decisions(db))[0].decision


async def test_loop_guard_survives_a_restart(db: Database, settings: Settings, clock: ManualClock, chat) -> None:
    first, _ = pipeline_for(db, settings, clock, FakeModel(["ok"]))
    await first.start()
    assert [await answer(db, first, clock, i) for i in (1, 3)] == ["answered", "answered"]
    await first.stop()

    second, outbox = pipeline_for(db, settings, clock, FakeModel(["ok"]))
    await second.start()
    assert await answer(db, second, clock, 5) == "drafted"  # 2 bot replies already, no owner since
    assert outbox.calls[-1][0] == "draft"


async def test_global_rate_limit_survives_a_restart(db: Database, settings: Settings, clock: ManualClock, chat) -> None:
    for i in range(3):
        await reply_queries.log_decision(db, 99, i, "answered", "earlier", [100 + i])
    limited = settings.model_copy(update={"rate_global_per_hour": 3})
    pipeline = ReplyPipeline(db, limited, FakeModel(["ok"]), FakeOutbox(), clock=clock)
    await pipeline.start()
    assert await answer(db, pipeline, clock, 1) == "skipped"
    assert "all chats" in (await reply_queries.list_decisions(db))[0].reason


async def test_stop_logs_waiting_bursts(db: Database, settings: Settings, clock: ManualClock, chat) -> None:
    pipeline, outbox = pipeline_for(db, settings, clock, FakeModel(["ok"]))
    await pipeline.start()
    await incoming(db, pipeline, 1, "one", clock.now())
    await incoming(db, pipeline, 2, "two", clock.now())
    await pipeline.stop()
    log = await reply_queries.list_decisions(db)
    assert sorted((e.message_id, e.decision, e.reason) for e in log) == [
        (1, "skipped", "shut down before replying"), (2, "skipped", "shut down before replying")]
    assert outbox.calls == []


async def test_empty_model_reply_sends_nothing(db: Database, settings: Settings, clock: ManualClock, chat) -> None:
    pipeline, outbox = pipeline_for(db, settings, clock, FakeModel(["  ", ""]))
    await pipeline.start()
    assert await answer(db, pipeline, clock, 1) == "skipped"
    assert "empty" in (await reply_queries.list_decisions(db))[0].reason
    assert outbox.calls == []


async def test_owner_stepping_in_while_typing_stops_the_rest(db: Database, settings: Settings,
                                                             clock: ManualClock, chat) -> None:
    pipeline, outbox = pipeline_for(db, settings, clock, FakeModel(["first", "second", "third"]))
    await pipeline.start()
    typed = 0

    async def owner_types_during_second_message() -> None:
        nonlocal typed
        typed += 1
        if typed == 2:
            await pipeline.on_owner_activity(CHAT)

    outbox.on_typing = owner_types_during_second_message
    assert await answer(db, pipeline, clock, 1) == "answered"
    assert [c[2] for c in outbox.calls if c[0] == "send"] == ["first"]
    entry = (await reply_queries.list_decisions(db))[0]
    assert len(entry.sent_message_ids) == 1 and "owner took over after 1 of 3" in entry.reason
