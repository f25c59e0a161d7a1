"""Live sync and the reply pipeline's ears: kurigram handlers for new, edited and deleted messages,
typing and draft updates.

Thin handlers: store what arrived (outgoing messages too: the owner's fresh replies are training
data), then tell the pipeline. Each handler catches its own errors and logs them with the chat and
message id (kurigram's dispatcher would only log them without context); the client keeps running.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from bot import convert
from bot.draft_answers import DraftAnswers
from bot.harvest import store_messages
from bot.pipeline import ReplyPipeline
from bot.policy import IncomingMessage
from storage import Database
from storage import messages as message_queries

if TYPE_CHECKING:
    from pyrogram import Client, types
    from pyrogram.handlers.handler import Handler

log = logging.getLogger(__name__)


def _timestamp(message: "types.Message") -> float | None:
    return message.date.timestamp() if message.date else None


def incoming_facts(message: "types.Message", owner_id: int) -> IncomingMessage:
    """What the policy needs to know about a kurigram message."""
    return IncomingMessage(
        date=_timestamp(message),
        chat_id=message.chat.id,
        message_id=message.id,
        chat_type=convert.chat_type(message.chat, owner_id),
        text=convert.message_text(message),
        outgoing=bool(message.outgoing),
        from_bot=bool(message.from_user is not None and message.from_user.is_bot),
        service=message.service is not None,
        forwarded=message.forward_origin is not None,
        has_media=convert.media_kind(message) is not None,
    )


class LiveSync:
    """Registers the handlers on a client; `pipeline` None = store only. Service chats and bots
    (storage.service_chats) are neither stored nor answered unless listed in `allowed_service_chats`.

    The same handlers take the catch-up after downtime: `bot.runtime` asks kurigram for the
    server's difference once they are registered, and missed messages, edits and deletions arrive
    here like live ones (the policy tells old messages by their date).

    The owner's messages from Telegram answer the chat's pending draft (`bot.draft_answers`);
    `session_gap_seconds` bounds one answer turn, as it bounds a session in the dialogue format."""

    def __init__(self, db: Database, owner_id: int, pipeline: ReplyPipeline | None, *,
                 session_gap_seconds: int, allowed_service_chats: Collection[int] = ()) -> None:
        self.db, self.owner_id, self.pipeline = db, owner_id, pipeline
        self.allowed_service_chats = frozenset(allowed_service_chats)
        self.draft_answers = DraftAnswers(db, session_gap_seconds)
        self._handlers: list[tuple[Handler, int]] = []

    def register(self, client: "Client", group: int = 0) -> None:
        from pyrogram import handlers

        self._handlers = [
            (handlers.MessageHandler(self.on_message), group),
            (handlers.EditedMessageHandler(self.on_edited), group),
            (handlers.DeletedMessagesHandler(self.on_deleted), group),
            (handlers.RawUpdateHandler(self.on_raw_update), group + 1),
        ]
        for handler, handler_group in self._handlers:
            client.add_handler(handler, handler_group)

    async def registered(self, client: "Client") -> None:
        """Wait until kurigram's loop task has added our handlers (before asking for missed updates)."""
        dispatcher = client.dispatcher  # its `groups` is replaced, not mutated, on each add
        while not all(handler in dispatcher.groups.get(group, ()) for handler, group in self._handlers):
            await asyncio.sleep(0.001)

    def unregister(self, client: "Client") -> None:
        for handler, group in self._handlers:
            client.remove_handler(handler, group)
        self._handlers = []

    async def drained(self, client: "Client") -> None:
        """Wait until kurigram's dispatcher has handled every queued update (its worker holds a
        lock while our handlers run)."""
        dispatcher = client.dispatcher

        def busy() -> bool:
            return not dispatcher.updates_queue.empty() or any(lock.locked() for lock in dispatcher.locks_list)

        while True:
            while busy():
                await asyncio.sleep(0.005)
            await asyncio.sleep(0.01)  # the gap between a dequeue and its lock
            if not busy():
                return

    def _kept(self, message: "types.Message") -> bool:
        return message.chat is not None and convert.is_kept_chat(message.chat, self.owner_id,
                                                                 self.allowed_service_chats)

    async def on_message(self, client: "Client", message: "types.Message") -> None:
        try:
            if not self._kept(message):
                return
            if message.outgoing:
                await self._store_outgoing(message)
            else:
                self.draft_answers.partner_spoke(message.chat.id)
                await store_messages(self.db, [message], self.owner_id,
                                     allowed_service_chats=self.allowed_service_chats)
            if self.pipeline is None:
                return
            if message.outgoing:
                await self.pipeline.on_outgoing(message.chat.id, message.id, when=_timestamp(message))
            else:
                await self.pipeline.on_incoming(incoming_facts(message, self.owner_id))
        except Exception:
            log.exception("live sync: new message failed: chat %s message %s", _chat_id(message), message.id)

    async def _store_outgoing(self, message: "types.Message") -> None:
        """Store an outgoing message. One seen for the first time is the owner's, sent from Telegram
        (the bot's and the panel's are stored when sent; a re-delivered one is already stored), and
        may answer the chat's pending draft: both in one transaction."""
        async with self.db.atomic():
            seen = await message_queries.get_message(self.db, message.chat.id, message.id) is not None
            stored = await store_messages(self.db, [message], self.owner_id,
                                          allowed_service_chats=self.allowed_service_chats)
            if stored and not seen and message.forward_origin is None:
                date = int(message.date.timestamp()) if message.date else 0
                await self.draft_answers.owner_sent(message.chat.id, message.id, convert.message_text(message), date)

    async def on_edited(self, client: "Client", message: "types.Message") -> None:
        try:
            if not self._kept(message):
                return
            await store_messages(self.db, [message], self.owner_id, allowed_service_chats=self.allowed_service_chats)
            if self.pipeline is not None and message.outgoing:
                edited = message.edit_date.timestamp() if message.edit_date else _timestamp(message)
                await self.pipeline.on_outgoing(message.chat.id, message.id, when=edited)
        except Exception:
            log.exception("live sync: edit failed: chat %s message %s", _chat_id(message), message.id)

    async def on_deleted(self, client: "Client", messages: list["types.Message"]) -> None:
        if not messages:
            return
        # Private-chat deletions arrive without the chat: storage then matches by id in private chats.
        chat_id = messages[0].chat.id if messages[0].chat is not None else None
        ids = [m.id for m in messages]
        try:
            async with self.db.atomic():
                count = await message_queries.mark_deleted(self.db, chat_id, ids)
            log.info("live sync: %s message(s) marked deleted (chat %s)", count, chat_id)
        except Exception:
            log.exception("live sync: delete failed: chat %s messages %s", chat_id, ids)

    async def on_raw_update(self, client: "Client", update: Any, users: dict, chats: dict) -> None:
        """Typing and draft updates, which kurigram does not turn into handler events."""
        from pyrogram import raw, utils

        if self.pipeline is None:
            return
        try:
            if isinstance(update, raw.types.UpdateUserTyping):
                if update.user_id == self.owner_id:
                    await self.pipeline.on_owner_activity(update.user_id)
                else:
                    self.pipeline.on_partner_typing(update.user_id)
            elif isinstance(update, (raw.types.UpdateChatUserTyping, raw.types.UpdateChannelUserTyping)):
                chat_id = (-update.chat_id if isinstance(update, raw.types.UpdateChatUserTyping)
                           else utils.get_channel_id(update.channel_id))
                if utils.get_raw_peer_id(update.from_id) == self.owner_id:
                    await self.pipeline.on_owner_activity(chat_id)
                else:
                    self.pipeline.on_partner_typing(chat_id)
            elif isinstance(update, raw.types.UpdateDraftMessage):
                text = getattr(update.draft, "message", "") or ""
                await self.pipeline.on_owner_draft(utils.get_peer_id(update.peer), text)
        except Exception:
            log.exception("live sync: %s failed", type(update).__name__)


def _chat_id(message: "types.Message") -> int | None:
    return message.chat.id if message.chat is not None else None
