"""Resumable history backfill: Telegram → SQLite in chunks of 100, one transaction per chunk.

Each chat's watermark (`sync_state`) says what is stored: everything between `oldest_id` and
`newest_id`, and, once `complete`, everything older too. A run first fetches what arrived above
`newest_id` (oldest first, so the watermark only moves forward), then continues downward from
`oldest_id`. A crash loses at most the chunk in flight; re-running never duplicates (rows are keyed
by `(chat_id, message_id)`).

FloodWait: kurigram's history iterator sleeps through waits up to 60 s itself; longer ones reach
us, are logged, slept (through the injectable `sleep`) and the chat continues from its watermark.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot import convert
from storage import Database, kv
from storage import chats as chat_queries
from storage import messages as message_queries
from storage.messages import SyncState
from storage.service_chats import is_service_chat

if TYPE_CHECKING:
    from pyrogram import Client, types

log = logging.getLogger(__name__)

CHUNK_SIZE = 100
MAX_FLOOD_WAITS = 20  # per chat; beyond this something is wrong: stop and say so

Sleep = Callable[[float], Awaitable[None]]
ProgressCallback = Callable[[int, int], None]  # (chat_id, messages stored so far in this run)


class HarvestError(RuntimeError):
    """A chat could not be harvested (the message says which and why)."""


@dataclass(slots=True)
class HarvestResult:
    chat_id: int
    stored: int
    complete: bool
    flood_waits: int


async def store_messages(db: Database, messages: Sequence["types.Message"], owner_id: int | None,
                         state: SyncState | None = None, *, allowed_service_chats: Collection[int] = ()) -> int:
    """Write kurigram messages (and their chats/senders) in one transaction, with the chat's new
    watermark if given. Returns how many were storable. Shared by harvest and live sync.
    Service chats and bots (storage.service_chats) are never written unless allowed."""
    storable = [m for m in messages if convert.is_storable(m)
                and convert.is_kept_chat(m.chat, owner_id, allowed_service_chats)]
    chats = {m.chat.id: convert.chat_row(m.chat, owner_id) for m in storable}
    users = {u.id: convert.user_row(u) for m in storable for u in convert.users_in(m)}
    async with db.atomic():
        if chats:
            await chat_queries.upsert_chats(db, chats.values())
        if users:
            await chat_queries.upsert_users(db, users.values())
        if storable:
            await message_queries.upsert_messages(db, [convert.message_row(m) for m in storable], source="telegram")
        if state is not None:
            await message_queries.save_sync_state(db, state)
    return len(storable)


async def _chunks(history: AsyncIterator["types.Message"], size: int) -> AsyncIterator[list["types.Message"]]:
    chunk: list[types.Message] = []
    async for message in history:
        chunk.append(message)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _Harvest:
    """One chat's run; `state` is the watermark as last committed."""

    def __init__(self, client: "Client", db: Database, chat_id: int, owner_id: int,
                 chunk_size: int, on_progress: ProgressCallback | None, allowed: Collection[int]) -> None:
        self.client, self.db, self.chat_id, self.owner_id = client, db, chat_id, owner_id
        self.allowed = allowed
        self.chunk_size, self.on_progress = chunk_size, on_progress
        self.state = SyncState(chat_id, None, None, False)
        self.stored = 0

    async def _commit(self, chunk: list["types.Message"]) -> None:
        ids = [m.id for m in chunk]
        oldest = min(ids) if self.state.oldest_id is None else min(self.state.oldest_id, *ids)
        newest = max(ids) if self.state.newest_id is None else max(self.state.newest_id, *ids)
        new_state = SyncState(self.chat_id, oldest, newest, self.state.complete)
        self.stored += await store_messages(self.db, chunk, self.owner_id, new_state,
                                            allowed_service_chats=self.allowed)
        self.state = new_state
        if self.on_progress is not None:
            self.on_progress(self.chat_id, self.stored)

    async def fetch_newer(self) -> None:
        """Everything above `newest_id`, oldest first, so each chunk moves the watermark up."""
        if self.state.newest_id is None:
            return
        history = self.client.get_chat_history(self.chat_id, min_id=self.state.newest_id + 1, reverse=True)
        async for chunk in _chunks(history, self.chunk_size):
            await self._commit(chunk)

    async def fetch_older(self) -> None:
        """Everything below `oldest_id` (or the whole chat on a first run), newest first."""
        if self.state.complete:
            return
        max_id = self.state.oldest_id - 1 if self.state.oldest_id is not None else 0
        if self.state.oldest_id is not None and max_id < 1:
            history = None  # the oldest message is already stored
        else:
            history = self.client.get_chat_history(self.chat_id, max_id=max_id)
        if history is not None:
            async for chunk in _chunks(history, self.chunk_size):
                await self._commit(chunk)
        self.state = SyncState(self.chat_id, self.state.oldest_id, self.state.newest_id, True)
        async with self.db.atomic():
            await message_queries.save_sync_state(self.db, self.state)


async def harvest_chat_history(
    client: "Client",
    db: Database,
    chat_id: int,
    *,
    owner_id: int,
    chunk_size: int = CHUNK_SIZE,
    sleep: Sleep = asyncio.sleep,
    on_progress: ProgressCallback | None = None,
    allowed_service_chats: Collection[int] = (),
) -> HarvestResult:
    """Backfill one chat from its stored watermark until its history is complete."""
    from pyrogram.errors import FloodWait

    run = _Harvest(client, db, chat_id, owner_id, chunk_size, on_progress, allowed_service_chats)
    flood_waits = 0
    while True:
        run.state = await message_queries.get_sync_state(db, chat_id) or run.state
        try:
            await run.fetch_newer()
            await run.fetch_older()
        except FloodWait as exc:
            flood_waits += 1
            if flood_waits > MAX_FLOOD_WAITS:
                raise HarvestError(f"chat {chat_id}: gave up after {MAX_FLOOD_WAITS} flood waits") from exc
            seconds = float(exc.value or 1)  # type: ignore[arg-type]
            log.warning("harvest: chat %s: Telegram asks to wait %.0f s (FloodWait); resuming after it",
                        chat_id, seconds)
            await sleep(seconds)
            continue
        log.info("harvest: chat %s complete (%s messages stored this run)", chat_id, run.stored)
        return HarvestResult(chat_id, run.stored, run.state.complete, flood_waits)


async def private_chat_ids(client: "Client", allowed_service_chats: Collection[int] = ()) -> list[int]:
    """The owner's one-to-one chats with people (no bots, no service chats, no Saved Messages),
    from the dialog list."""
    from pyrogram import enums

    me = client.me.id if client.me else None
    return [d.chat.id async for d in client.get_dialogs()
            if d.chat.type == enums.ChatType.PRIVATE and d.chat.id != me
            and convert.is_kept_chat(d.chat, me, allowed_service_chats)]


async def harvest(
    client: "Client",
    db: Database,
    chat_ids: Iterable[int],
    *,
    all_private: bool = False,
    sleep: Sleep = asyncio.sleep,
    on_progress: ProgressCallback | None = None,
    on_chat_start: Callable[[int], Awaitable[None]] | None = None,
    allowed_service_chats: Collection[int] = (),
) -> list[HarvestResult]:
    """Harvest the given chats (plus every private chat with `all_private`), one after another.
    Known service chats (777000…) are refused unless allowed; bots are filtered as they are read."""
    owner_id = client.me.id if client.me else None
    if owner_id is None:
        raise HarvestError("the client is not started")
    await kv.set_value(db, kv.OWNER_ID, owner_id)
    targets = []
    for chat_id in dict.fromkeys(chat_ids):
        if is_service_chat(chat_id, allowed=allowed_service_chats):
            log.warning("harvest: chat %s is a Telegram service chat: not stored "
                        "(list it in TGTWIN_ALLOWED_SERVICE_CHATS to store it)", chat_id)
        else:
            targets.append(chat_id)
    if all_private:
        targets += [c for c in await private_chat_ids(client, allowed_service_chats) if c not in targets]
    results = []
    for chat_id in targets:
        if on_chat_start is not None:
            await on_chat_start(chat_id)
        results.append(await harvest_chat_history(client, db, chat_id, owner_id=owner_id, sleep=sleep,
                                                  on_progress=on_progress,
                                                  allowed_service_chats=allowed_service_chats))
    await _suggest_relationships(client, db, [c for c in targets if c > 0 and c != owner_id])
    return results


async def _suggest_relationships(client: "Client", db: Database, chat_ids: list[int]) -> None:
    """Refresh relationship suggestions for the harvested one-to-one chats. Optional: a failure
    is logged and the harvest stands."""
    from bot.relationships import refresh_suggestions

    if not chat_ids:
        return
    try:
        await refresh_suggestions(client, db, chat_ids)
    except Exception as exc:  # kurigram raises many RPC errors; the history is already stored
        log.warning("harvest: relationship suggestions failed (%s); run the harvest again to retry", type(exc).__name__)
