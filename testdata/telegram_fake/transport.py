"""kurigram's transport patched onto a `FakeTelegram`, and waiting for its dispatcher."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import Any

from pyrogram import raw
from pyrogram.errors import RPCError
from pyrogram.raw.core import TLObject
from pyrogram.session import session as session_module

from testdata.telegram_fake.raw_objects import unwrap
from testdata.telegram_fake.server import FakeTelegram


class SleepRecorder:
    """Stands in for `asyncio` inside kurigram's session module: records FloodWait sleeps instead
    of sleeping; everything else is the real asyncio."""

    def __init__(self) -> None:
        self.slept: list[float] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


@contextlib.contextmanager
def fake_transport(server: FakeTelegram) -> Iterator[SleepRecorder]:
    """Patch kurigram so every session talks to `server`; yields the FloodWait sleep recorder."""
    import pyrogram.client

    class FakeSession(session_module.Session):
        async def start(self) -> None:
            self._state = session_module.SessionState.STARTED
            self.is_started.set()

        async def stop(self) -> None:
            self._state = session_module.SessionState.STOPPED
            self.is_started.clear()

        async def send(self, data: TLObject, wait_response: bool = True, timeout: float = 15) -> Any:
            await asyncio.sleep(0)  # a network hop: let other tasks run
            result = server.answer(data)
            if isinstance(result, raw.types.RpcError):
                RPCError.raise_it(result, type(unwrap(data)))
            return result

    recorder = SleepRecorder()
    original_session, original_asyncio = pyrogram.client.Session, session_module.asyncio
    pyrogram.client.Session = FakeSession  # type: ignore[misc]
    session_module.asyncio = recorder  # type: ignore[assignment]
    try:
        yield recorder
    finally:
        pyrogram.client.Session = original_session  # type: ignore[misc]
        session_module.asyncio = original_asyncio


async def wait_dispatched(client: Any, timeout: float = 10.0) -> None:
    """Wait until kurigram's dispatcher has handled every queued update (its worker holds a lock
    while handlers run); checked twice to step over the gap between dequeue and lock."""
    dispatcher = client.dispatcher

    def busy() -> bool:
        return not dispatcher.updates_queue.empty() or any(lock.locked() for lock in dispatcher.locks_list)

    deadline = time.monotonic() + timeout
    while True:
        while busy():
            if time.monotonic() > deadline:
                raise AssertionError(f"kurigram's dispatcher still busy after {timeout:g} s "
                                     "(updates queued or a handler stuck)")
            await asyncio.sleep(0.002)
        await asyncio.sleep(0.01)
        if not busy():
            return
