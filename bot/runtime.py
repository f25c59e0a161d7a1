"""The live bot: `async with TelegramBot(services) as bot:` starts the client, live sync and the
reply pipeline, and exposes `bot.gateway` (services.TelegramGateway) for the panel.

Start order: client → pipeline → handlers → catch-up; stop in reverse. A failed start stops what
started.

Catch-up after downtime: kurigram keeps the account's update state (pts) in the session file.
Its own start-time recovery (`skip_updates=False`) would run inside `client.start()`, before our
handlers exist, and the recovered updates would be dropped while the state moved past them. So the
client skips that, and once the handlers are registered we call `client.recover_gaps()`
(updates.getDifference from the stored state): missed new messages, edits and deletions go through
the same handlers as live ones, and the policy drafts or skips what is too old. After a reconnect
(kurigram's session restarts on network errors) the same recovery runs again.

The difference can come up short (no saved state, "too long", a `harvest` run or a crash moved the
state past unhandled updates), so each catch-up then compares the active chats' recent histories
with the store (`bot.catch_up`): missed messages, edits and deletions in that window are stored too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from types import TracebackType
from typing import TYPE_CHECKING

from bot.authorship import is_unchanged_draft
from bot.catch_up import catch_up_from_history
from bot.client import build_client
from bot.harvest import HarvestResult, harvest, private_chat_ids
from bot.live import LiveSync
from bot.pipeline import Clock, ReplyPipeline
from services import Services
from storage import Database, MessageRow, kv
from storage import messages as message_queries
from storage import replies as reply_queries
from storage.rows import Authorship, full_name

if TYPE_CHECKING:
    from pyrogram import Client

log = logging.getLogger(__name__)


class KurigramOutbox:
    """The pipeline's and the panel's way out to Telegram. Sent messages are stored at once:
    Telegram does not echo this session's own messages back as updates."""

    def __init__(self, client: "Client", db: Database, owner_id: int, owner_name: str | None) -> None:
        self.client, self.db, self.owner_id, self.owner_name = client, db, owner_id, owner_name

    async def send_typing(self, chat_id: int) -> None:
        from pyrogram import enums

        await self.client.send_chat_action(chat_id, enums.ChatAction.TYPING)

    async def send_text(self, chat_id: int, text: str) -> int:
        """The pipeline's automatic send: stored as bot-authored (never a training target)."""
        return await self.send_as(chat_id, text, "bot")

    async def send_as(self, chat_id: int, text: str, authored_by: Authorship) -> int:
        sent = await self.client.send_message(chat_id, text)
        date = int(sent.date.timestamp()) if sent.date else 0
        row = MessageRow(chat_id=chat_id, message_id=sent.id, sender_id=self.owner_id,
                         sender_name=self.owner_name, outgoing=True, date=date, text=text)
        async with self.db.atomic():
            await message_queries.upsert_messages(self.db, [row], source="telegram")
            if authored_by != "human":
                await message_queries.mark_authored(self.db, chat_id, [sent.id], authored_by)
        return sent.id

    async def save_draft(self, chat_id: int, text: str) -> None:
        from pyrogram import raw

        peer = await self.client.resolve_peer(chat_id)
        await self.client.invoke(raw.functions.messages.SaveDraft(peer=peer, message=text))


class KurigramGateway:
    """services.TelegramGateway over the live client: what the panel sends is the owner's own act,
    so it counts as owner activity (takeover, loop-guard reset)."""

    def __init__(self, client: "Client", db: Database, outbox: KurigramOutbox, pipeline: ReplyPipeline,
                 allowed_service_chats: Collection[int] = ()) -> None:
        self._client, self._db, self._outbox, self._pipeline = client, db, outbox, pipeline
        self._allowed = tuple(allowed_service_chats)

    @property
    def connected(self) -> bool:
        return bool(self._client.is_connected)

    async def send_messages(self, chat_id: int, messages: list[str]) -> list[int]:
        """Send as the owner; a pending draft sent word for word counts as the bot's words."""
        await self._pipeline.on_owner_activity(chat_id)
        texts = [text for text in messages if text.strip()]
        drafts = await reply_queries.pending_drafts(self._db, chat_id)
        authored: Authorship = ("draft_unchanged" if any(is_unchanged_draft(d.text, texts) for d in drafts)
                                else "human")
        return [await self._outbox.send_as(chat_id, text, authored) for text in texts]

    async def save_draft(self, chat_id: int, text: str) -> None:
        await self._outbox.save_draft(chat_id, text)

    async def harvest(self, progress: Callable[[float | None, str | None], None] | None = None) -> list[HarvestResult]:
        """The panel's "harvest": every private chat, through the live client (resumable like the CLI)."""
        targets = await private_chat_ids(self._client, self._allowed)
        started = 0

        async def on_chat_start(chat_id: int) -> None:
            nonlocal started
            if progress is not None:
                progress(started / max(1, len(targets)), f"chat {chat_id} ({started + 1}/{len(targets)})")
            started += 1

        results = await harvest(self._client, self._db, targets, on_chat_start=on_chat_start,
                                allowed_service_chats=self._allowed)
        if progress is not None:
            progress(1.0, f"{len(results)} chats, {sum(r.stored for r in results)} messages stored")
        return results


class TelegramBot:
    """Lifecycle of the live Telegram side. `client`/`clock` are injectable for tests and the bench."""

    def __init__(self, services: Services, *, client: "Client | None" = None, clock: Clock | None = None) -> None:
        self.services = services
        self.client = client
        self.clock = clock
        self.pipeline: ReplyPipeline | None = None
        self._live: LiveSync | None = None
        self._gateway: KurigramGateway | None = None
        self._catch_up_task: asyncio.Task[None] | None = None

    @property
    def gateway(self) -> KurigramGateway:
        if self._gateway is None:
            raise RuntimeError("TelegramBot is not started")
        return self._gateway

    async def __aenter__(self) -> "TelegramBot":
        from pyrogram import handlers

        settings, db = self.services.settings, self.services.db
        if self.client is None:
            self.client = build_client(settings)
        client = self.client
        await client.start()
        try:
            me = client.me
            assert me is not None
            await kv.set_value(db, kv.OWNER_ID, me.id)
            owner_name = full_name(me.first_name, me.last_name) or None
            outbox = KurigramOutbox(client, db, me.id, owner_name)
            self.pipeline = ReplyPipeline(db, settings, self.services.model, outbox, clock=self.clock)
            await self.pipeline.start()
            self._live = LiveSync(db, me.id, self.pipeline, session_gap_seconds=settings.session_gap_minutes * 60,
                                  allowed_service_chats=settings.allowed_service_chats)
            self._live.register(client)
            await self._live.registered(client)
            self._gateway = KurigramGateway(client, db, outbox, self.pipeline,
                                            settings.allowed_service_chats)
            await self.catch_up()
            client.add_handler(handlers.ConnectHandler(self._on_reconnect))
        except BaseException:
            if self.pipeline is not None:
                await self.pipeline.stop()
            await client.stop()
            raise
        log.info("telegram: connected as user %s; live sync and auto-reply running", me.id)
        return self

    async def catch_up(self) -> None:
        """Fetch what happened while we were not listening (the server's difference, then the active
        chats' recent histories) through the live handlers. A failure is logged: live sync still
        runs, the next reconnect retries."""
        assert self.client is not None
        try:
            messages, others = await self.client.recover_gaps()
        except Exception as exc:
            log.warning("telegram: catching up on missed updates failed (%s); live sync continues", type(exc).__name__)
            return
        log.info("telegram: catch-up: %s missed message(s), %s other update(s)", messages, others)
        assert self._live is not None
        try:
            await self._live.drained(self.client)
            found = await catch_up_from_history(self.client, self.services.db, self._live)
        except Exception as exc:
            log.warning("telegram: reading missed history failed (%s); live sync continues", type(exc).__name__)
            return
        if found.found_any:
            log.info("telegram: catch-up from chat histories: %s missed, %s edited, %s deleted message(s)",
                     found.missed, found.edited, found.deleted)

    async def _on_reconnect(self, client: "Client", session: object) -> None:
        """kurigram restarted its network session: updates sent meanwhile were missed."""
        if session is client.session and self._catch_up_task is None:
            self._catch_up_task = asyncio.create_task(self._reconnect_catch_up(), name="telegram-catch-up")

    async def _reconnect_catch_up(self) -> None:
        try:
            await self.catch_up()
        finally:
            self._catch_up_task = None

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        assert self.client is not None
        try:
            if self._catch_up_task is not None:
                self._catch_up_task.cancel()
                await asyncio.gather(self._catch_up_task, return_exceptions=True)
            if self.pipeline is not None:
                await self.pipeline.stop()
        finally:
            self._gateway = None
            await self.client.stop()
            log.info("telegram: stopped")
