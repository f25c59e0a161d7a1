"""Live sync and the reply pipeline's ears: kurigram handlers for new, edited and deleted messages,
typing and draft updates.

Thin handlers: store what arrived (outgoing messages too: the owner's fresh replies are training
data), then tell the pipeline. Each handler catches its own errors and logs them with the chat and
message id (kurigram's dispatcher would only log them without context); the client keeps running.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from bot import convert
from bot.harvest import store_messages
from bot.pipeline import ReplyPipeline
from bot.policy import IncomingMessage
from storage import Database
from storage import messages as message_queries

if TYPE_CHECKING:
    from pyrogram import Client, types
    from pyrogram.handlers.handler import Handler

log = logging.getLogger(__name__)


def incoming_facts(message: "types.Message", owner_id: int) -> IncomingMessage:
    """What the policy needs to know about a kurigram message."""
    return IncomingMessage(
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
    """Registers the handlers on a client; `pipeline` None = store only."""

    def __init__(self, db: Database, owner_id: int, pipeline: ReplyPipeline | None) -> None:
        self.db, self.owner_id, self.pipeline = db, owner_id, pipeline
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

    def unregister(self, client: "Client") -> None:
        for handler, group in self._handlers:
            client.remove_handler(handler, group)
        self._handlers = []

    async def on_message(self, client: "Client", message: "types.Message") -> None:
        try:
            if message.chat is None:
                return
            await store_messages(self.db, [message], self.owner_id)
            if self.pipeline is None:
                return
            if message.outgoing:
                await self.pipeline.on_outgoing(message.chat.id, message.id)
            else:
                await self.pipeline.on_incoming(incoming_facts(message, self.owner_id))
        except Exception:
            log.exception("live sync: new message failed: chat %s message %s", _chat_id(message), message.id)

    async def on_edited(self, client: "Client", message: "types.Message") -> None:
        try:
            if message.chat is None:
                return
            await store_messages(self.db, [message], self.owner_id)
            if self.pipeline is not None and message.outgoing:
                await self.pipeline.on_outgoing(message.chat.id, message.id)
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
