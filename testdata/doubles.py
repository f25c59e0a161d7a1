"""Stand-ins for the reply pipeline's clock and model, and a poll that can move virtual time."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any

from model.candidates import ChosenReplies
from model.dialogue import Dialogue
from model.status import ModelStatus


class ManualClock:
    """Virtual time for the reply pipeline: `sleep` waits until a test calls `advance`."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self._now + seconds, future))
        await future

    @property
    def sleeping(self) -> int:
        return sum(1 for _, f in self._sleepers if not f.done())

    def advance(self, seconds: float) -> None:
        self._now += seconds
        due = [(t, f) for t, f in self._sleepers if t <= self._now]
        self._sleepers = [(t, f) for t, f in self._sleepers if t > self._now]
        for _, future in sorted(due, key=lambda item: item[0]):
            if not future.done():
                future.set_result(None)


class FakeModel:
    """services.ReplyModel stand-in: a fixed reply, records the dialogues it was asked about. Its
    prompt shows the dialogue's whole memory, as an adapter trained with memory whose window
    holds it all (`format_memory=False`: as one trained without)."""

    def __init__(self, reply: list[str] | None = None, *, format_memory: bool = True) -> None:
        self.parts = reply if reply is not None else ["ok"]
        self.format_memory = format_memory
        self.dialogues: list[Any] = []
        self.fail_next = 0

    async def candidates(self, dialogue: Any, n: int) -> ChosenReplies:
        self.dialogues.append(dialogue)
        if self.fail_next:
            self.fail_next -= 1
            raise RuntimeError("model failure (injected)")
        replies = [list(self.parts) for _ in range(n)]
        return ChosenReplies(replies, dialogue.memory if self.format_memory else (), self.format_memory)

    async def swap_adapter(self, adapter_dir: str | None) -> None:
        return None

    def status(self) -> ModelStatus:
        return ModelStatus(backend="fake", state="ready", base_model="fake")


async def wait_until(condition: Callable[[], Any], *, clock: ManualClock | None = None, step: float = 1.0,
                     timeout: float = 10.0, what: str | None = None) -> None:
    """Poll `condition` (sync or async) until true, advancing `clock` by `step` virtual seconds
    between polls if given. Fails after `timeout` real seconds, naming what it waited for (`what`,
    else the condition's source line)."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:g} s in vain for: {what or _describe(condition)}")
        if clock is not None:
            clock.advance(step)
        await asyncio.sleep(0.002)


def _describe(condition: Callable[[], Any]) -> str:
    try:
        return inspect.getsource(condition).strip()
    except (OSError, TypeError):
        return repr(condition)


class RecordingEngine:
    """A `ReplyEngine` with a huge window that records the dialogue it is asked to continue."""

    context_window = 1_000_000

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.seen: list[Dialogue] = []

    def sample(self, fmt: Any, dialogue: Dialogue, gen: Any, n: int, should_stop: Any = None) -> list[list[str]]:
        self.seen.append(dialogue)
        return [["ok"]] * n

    def score(self, fmt: Any, dialogue: Dialogue, replies: Any) -> list[float | None]:
        return [0.0] * len(replies)
