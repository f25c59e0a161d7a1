"""The owner's pace: the estimator recovers known distributions from synthetic histories, falls
back per chat → global → defaults, and the pipeline waits as learned (virtual clock)."""

from __future__ import annotations

import itertools
import json
import random
import statistics

import pytest

from bot.pipeline import ReplyPipeline
from bot.policy import IncomingMessage
from bot.timing import (
    DEFAULT_CHARS_PER_SECOND,
    DEFAULT_TIMING,
    Distribution,
    Pace,
    Timing,
    learn_timing,
    timing_report,
)
from settings import Settings
from storage import ChatRow, Database, MessageRow
from storage import chats as chat_queries
from storage import messages as message_queries
from testdata.doubles import FakeModel, ManualClock, wait_until

GAP = 3 * 3600.0


def synthetic_history(chat_id: int, rng: random.Random, *, exchanges: int, delay_median: float,
                      cps: float, start: int = 1_700_000_000) -> list[MessageRow]:
    """Partner writes; the owner answers after a log-normal delay with a two-message turn typed at
    `cps` characters per second (the gap before the second message is its typing time)."""
    rows, t, mid = [], start, 1
    for _ in range(exchanges):
        rows.append(MessageRow(chat_id, mid, chat_id, "P", False, t, "question?"))
        mid += 1
        t += max(1, round(rng.lognormvariate(0, 0.5) * delay_median))
        rows.append(MessageRow(chat_id, mid, 1, "O", True, t, "first part"))
        mid += 1
        second = "x" * rng.randint(20, 60)
        t += round(len(second) / cps)
        rows.append(MessageRow(chat_id, mid, 1, "O", True, t, second))
        mid += 1
        t += 4 * 3600  # next exchange in a new session: no cross-session samples
    return rows


def test_estimator_recovers_known_distributions() -> None:
    rng = random.Random(7)
    history = synthetic_history(5, rng, exchanges=400, delay_median=60, cps=4.0)
    global_timing, per_chat = learn_timing({5: history}, GAP)
    timing = per_chat[5]
    assert timing.answer_delay_seconds.median == pytest.approx(60, rel=0.1)
    # log-normal sigma 0.5: p90 = median · e^(1.2816·0.5) ≈ 1.90 × median
    assert timing.answer_delay_seconds.p90 == pytest.approx(60 * 1.90, rel=0.12)
    assert timing.chars_per_second.median == pytest.approx(4.0, rel=0.1)
    assert statistics.median(timing.turn_gap_seconds.samples) == pytest.approx(40 / 4.0, rel=0.15)
    assert timing.answer_delay_seconds.learned and global_timing.answer_delay_seconds.learned


def test_too_little_history_falls_back_to_global_then_defaults() -> None:
    rng = random.Random(1)
    rich = synthetic_history(5, rng, exchanges=50, delay_median=30, cps=5.0)
    sparse = synthetic_history(6, rng, exchanges=2, delay_median=600, cps=1.0)
    global_timing, per_chat = learn_timing({5: rich, 6: sparse}, GAP)
    assert per_chat[6].answer_delay_seconds is global_timing.answer_delay_seconds
    nothing, _ = learn_timing({6: sparse}, GAP)
    assert nothing == DEFAULT_TIMING
    summary = json.loads(nothing.to_json())
    assert summary["chars_per_second"] == {"median": DEFAULT_CHARS_PER_SECOND, "p90": DEFAULT_CHARS_PER_SECOND,
                                           "samples": 0, "learned": False}


def test_bot_messages_and_long_silences_are_not_the_owners_pace() -> None:
    rows = []
    for i in range(10):
        rows.append(MessageRow(5, 3 * i + 1, 5, "P", False, 10_000 * i, "hi"))
        rows.append(MessageRow(5, 3 * i + 2, 1, "O", True, 10_000 * i + 2, "bot words", authored_by="bot"))
        rows.append(MessageRow(5, 3 * i + 3, 1, "O", True, 10_000 * i + 9000, "later"))  # past the session gap
    timing = learn_timing({5: rows}, session_gap_seconds=3600)[1][5]
    assert not timing.answer_delay_seconds.learned and not timing.turn_gap_seconds.learned


def test_pace_is_bounded_never_instant_never_slower_than_the_maximum() -> None:
    slow = Timing(Distribution((3600.0,) * 5, True), Distribution((0.01,) * 5, True), Distribution((900.0,) * 5, True))
    fast = Timing(Distribution((0.0,) * 5, True), Distribution((1000.0,) * 5, True), Distribution((0.0,) * 5, True))
    rng = random.Random(0)
    assert Pace(slow, 1.0, 20.0).pause("hello", first=True, already_waited=0, rng=rng) == 20.0
    assert Pace(fast, 1.0, 20.0).pause("hello", first=False, already_waited=0, rng=rng) == 1.0
    # The debounce and generation already took part of the owner's usual delay.
    medium = Timing(Distribution((30.0,) * 5, True), Distribution((10.0,) * 5, True), Distribution((2.0,) * 5, True))
    assert Pace(medium, 1.0, 60.0).pause("hi", first=True, already_waited=12, rng=rng) == pytest.approx(18.0)


class RecordingOutbox:
    def __init__(self, clock: ManualClock) -> None:
        self.clock, self.events = clock, []

    async def send_typing(self, chat_id: int) -> None:
        self.events.append(("typing", self.clock.now()))

    async def send_text(self, chat_id: int, text: str) -> int:
        self.events.append(("send", self.clock.now()))
        return len(self.events) + 1000

    async def save_draft(self, chat_id: int, text: str) -> None:
        raise AssertionError("no drafts here")


async def test_pipeline_waits_at_the_learned_pace(db: Database, settings: Settings) -> None:
    rng = random.Random(3)
    await chat_queries.upsert_chats(db, [ChatRow(5, "private", "Alice")])
    await chat_queries.update_chat_settings(db, 5, reply_mode="auto")
    async with db.atomic():
        await message_queries.upsert_messages(db, synthetic_history(5, rng, exchanges=40, delay_median=30,
                                                                    cps=2.0, start=1_600_000_000))
    clock = ManualClock(start=1_700_000_000)
    tuned = settings.model_copy(update={"debounce_seconds": 8.0, "pace_min_seconds": 1.0, "pace_max_seconds": 45.0,
                                        "quiet_hours": "", "backlog_answer_minutes": 10})
    outbox = RecordingOutbox(clock)
    pipeline = ReplyPipeline(db, tuned, FakeModel(["ok then", "x" * 24]), outbox, clock=clock, rng=random.Random(0))
    await pipeline.start()
    await message_queries.upsert_messages(db, [MessageRow(5, 999, 5, "P", False, int(clock.now()), "free?")])
    await pipeline.on_incoming(IncomingMessage(5, 999, "private", "free?", date=clock.now()))
    await wait_until(lambda: sum(1 for e in outbox.events if e[0] == "send") == 2, clock=clock, step=0.5)
    sends = [t for kind, t in outbox.events if kind == "send"]
    arrived = 1_700_000_000
    learned = (await timing_report(db, GAP, 5)).timing
    # The first message waits (about) the owner's usual answer delay from the partner's message,
    # the second about its typing time at the owner's speed (24 chars at ~2 chars/s).
    delays = learned.answer_delay_seconds.samples
    assert delays[0] - 1 <= sends[0] - arrived <= delays[-1] + 1
    assert 24 / learned.chars_per_second.samples[-1] - 1 <= sends[1] - sends[0] <= 45.5
    # "typing…" is refreshed at least every 5 s while waiting.
    typing = [t for kind, t in outbox.events if kind == "typing"]
    assert all(b - a <= 5.5 for a, b in itertools.pairwise(typing) if b < sends[0])
    await pipeline.stop()
