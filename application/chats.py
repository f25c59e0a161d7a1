"""Chats as the owner sees and sets them: the whitelist view, one chat's detail, and the per-chat
settings (reply mode, relationship tag, training opt-in).

The views are the REST API's answers as they are (`admin_ui.routes.chats`), so a field and its
description (`metadata={"description": ...}`, which the OpenAPI schema reads) live here once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services import Services
from storage import ChatRow, ChatType, ReplyMode
from storage import chats as chat_queries
from storage import messages as message_queries
from storage import replies as reply_queries
from storage.replies import Decision

_UNSET: Any = object()


@dataclass(frozen=True, slots=True)
class ChatView:
    """A chat with its settings and message counts (one row of the whitelist)."""

    id: int
    type: ChatType
    title: str
    mode: ReplyMode
    relationship: str | None
    train: bool | None = field(metadata={"description": "Use this chat for training (null: default by chat type)."})
    relationship_suggestion: str | None = field(metadata={
        "description": "Suggested from Telegram's data; not used until confirmed (or automatic use is on)."})
    relationship_reason: str | None = field(metadata={"description": "Why it was suggested."})
    messages: int = field(metadata={"description": "Stored messages, not deleted."})
    owner_messages: int

    @property
    def pending_suggestion(self) -> str | None:
        """The suggested relationship while it differs from the one set (None once confirmed)."""
        return None if self.relationship_suggestion in (None, self.relationship) else self.relationship_suggestion


@dataclass(frozen=True, slots=True)
class ChatDetail(ChatView):
    """One chat with its counts, its last message time and what the bot decided there."""

    last_message_at: int | None
    decisions: dict[Decision, int] = field(
        metadata={"description": "Reply-log decisions in this chat: answered/drafted/skipped/error."})
    pending_drafts: int


def _settings(chat: ChatRow) -> dict[str, Any]:
    return {
        "id": chat.id, "type": chat.type, "title": chat.title, "mode": chat.reply_mode,
        "relationship": chat.relationship, "train": chat.train,
        "relationship_suggestion": chat.relationship_suggestion, "relationship_reason": chat.relationship_reason,
    }


async def chat_list(services: Services, search: str = "", limit: int = 500) -> list[ChatView]:
    """Chats whose title contains `search`, with their settings and message counts (the whitelist)."""
    counts = await message_queries.chat_message_counts(services.db)
    views = []
    for chat in await chat_queries.list_chats(services.db, search, limit):
        messages, owner_messages = counts.get(chat.id, (0, 0))
        views.append(ChatView(**_settings(chat), messages=messages, owner_messages=owner_messages))
    return views


async def chat_detail(services: Services, chat_id: int) -> ChatDetail:
    """One chat (storage.NotFound if unknown), every figure read from that chat's rows only."""
    db = services.db
    chat = await chat_queries.get_chat(db, chat_id)
    messages, owner_messages = await message_queries.chat_message_count(db, chat_id)
    last = await message_queries.recent_messages(db, chat_id, 1)
    return ChatDetail(
        **_settings(chat), messages=messages, owner_messages=owner_messages,
        last_message_at=last[-1].date if last else None,
        decisions=await reply_queries.decision_counts(db, chat_id),
        pending_drafts=await reply_queries.count_drafts(db, "pending", chat_id),
    )


async def update_chat(
    services: Services, chat_id: int, *, mode: ReplyMode | None = None, relationship: str | None = _UNSET,
    train: bool | None = _UNSET,
) -> None:
    """Change a chat's reply mode, relationship tag or training opt-in; what is left out stays.
    `relationship=None` / `train=None` clear the value (train back to the default by chat type)."""
    changes: dict[str, Any] = {}
    if mode is not None:
        changes["reply_mode"] = mode
    if relationship is not _UNSET:
        changes["relationship"] = relationship
    if train is not _UNSET:
        changes["train"] = train
    await chat_queries.update_chat_settings(services.db, chat_id, **changes)


async def confirm_relationship(services: Services, chat_id: int) -> None:
    """The owner accepts the chat's suggested relationship (`storage.chats.confirm_relationship`):
    NotFound for an unknown chat, InvalidValue when there is nothing to confirm."""
    await chat_queries.confirm_relationship(services.db, chat_id)
