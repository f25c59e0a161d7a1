"""Plain row types shared by every writer (export import, harvest, live sync) and reader."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ChatType = Literal["private", "bot", "group", "supergroup", "channel", "self"]
ReplyMode = Literal["off", "draft", "auto"]
Authorship = Literal["human", "bot", "draft_unchanged"]
"""Who wrote a stored message: a person (owner or partner, as `outgoing` says), the bot sending
automatically, or the owner sending the bot's draft unchanged. Only human owner messages train."""
REPLY_MODES: tuple[ReplyMode, ...] = ("off", "draft", "auto")

# The media kinds both writers (export import, Telegram harvest/live sync) store in `messages.media`.
# A sticker's emoji goes into `text`.
MEDIA_KINDS = (
    "photo", "video", "video_note", "voice", "audio", "animation", "sticker", "document",
    "location", "contact", "poll", "dice", "game", "other",
)


@dataclass(slots=True)
class MessageRow:
    """One stored message. `date`/`edited_at` are unix seconds UTC; `media` is a kind or None."""

    chat_id: int
    message_id: int
    sender_id: int | None
    sender_name: str | None
    outgoing: bool
    date: int
    text: str
    media: str | None = None
    reply_to: int | None = None
    forwarded: bool = False
    edited_at: int | None = None
    deleted: bool = False
    authored_by: Authorship = "human"
    """Set at send time (`storage.messages.mark_authored`), never by the writers' params below."""

    def as_params(self, source: str) -> tuple[object, ...]:
        return (
            self.chat_id, self.message_id, self.sender_id, self.sender_name, int(self.outgoing),
            self.date, self.text, self.media, self.reply_to, int(self.forwarded), self.edited_at,
            int(self.deleted), source,
        )


@dataclass(slots=True)
class ChatRow:
    id: int
    type: ChatType
    title: str
    reply_mode: ReplyMode = "off"
    relationship: str | None = None
    train: bool | None = None
    relationship_suggestion: str | None = None
    """Suggested from Telegram's data (bot.relationships); unused until confirmed."""
    relationship_reason: str | None = None

    def relationship_in_use(self, auto_use: bool) -> str | None:
        """The relationship training and replies may condition on: the confirmed one, else the
        suggestion only if the owner enabled automatic use (`TGTWIN_RELATIONSHIP_AUTO_USE`)."""
        if self.relationship:
            return self.relationship
        return self.relationship_suggestion if auto_use else None


def full_name(first_name: str | None, last_name: str | None) -> str:
    """Telegram's display name: first and last name, whichever are set ("" when neither is)."""
    return " ".join(p for p in (first_name, last_name) if p)


@dataclass(slots=True)
class UserRow:
    id: int
    first_name: str | None = None
    last_name: str | None = None
    username: str | None = None
    is_bot: bool = False

    @property
    def display_name(self) -> str:
        name = full_name(self.first_name, self.last_name)
        return name or (self.username or str(self.id))
