"""kurigram objects → storage rows: the one place Telegram's shapes become ours.

The rows match what the export importer writes (media kinds from `storage.rows.MEDIA_KINDS`, a
sticker's emoji as its text, captions as text, chat ids as kurigram gives them: users > 0,
basic groups -id, supergroups/channels -100id), so harvested and imported history mix freely.
Pure functions: no client calls, no I/O.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from storage.rows import MEDIA_KINDS, ChatRow, ChatType, MessageRow, UserRow, full_name
from storage.service_chats import is_service_chat

if TYPE_CHECKING:
    from pyrogram import types

# kurigram's MessageMediaType value → our media kind. Anything not listed is "other";
# a link preview (web_page) is not media: the message is its text.
_MEDIA_KIND = {
    "photo": "photo", "live_photo": "photo", "video": "video", "video_note": "video_note",
    "voice": "voice", "audio": "audio", "animation": "animation", "sticker": "sticker",
    "document": "document", "location": "location", "venue": "location", "contact": "contact",
    "poll": "poll", "dice": "dice", "game": "game",
}
assert set(_MEDIA_KIND.values()) <= set(MEDIA_KINDS)

# kurigram's ChatType value → ours. Forums are supergroups; a channel's direct-messages
# chat belongs to the channel.
_CHAT_TYPE: dict[str, ChatType] = {
    "private": "private", "bot": "bot", "group": "group", "supergroup": "supergroup",
    "channel": "channel", "forum": "supergroup", "direct": "channel",
}


def _enum_value(value: Any) -> str:
    """`enums.ChatType.PRIVATE` → "private" (kurigram enums carry lower-case names as values)."""
    return str(getattr(value, "value", value) or "").lower()


def chat_type(chat: "types.Chat", owner_id: int | None) -> ChatType:
    """Our chat type; the owner's own chat (Saved Messages) is "self"."""
    if owner_id is not None and chat.id == owner_id:
        return "self"
    return _CHAT_TYPE.get(_enum_value(chat.type), "private")


def chat_title(chat: "types.Chat") -> str:
    return chat.title or full_name(chat.first_name, chat.last_name) or (chat.username or "")


def chat_row(chat: "types.Chat", owner_id: int | None) -> ChatRow:
    kind = chat_type(chat, owner_id)
    title = "Saved Messages" if kind == "self" else chat_title(chat)  # as the export names it
    return ChatRow(id=chat.id, type=kind, title=title)


def user_row(user: "types.User") -> UserRow:
    return UserRow(id=user.id, first_name=user.first_name, last_name=user.last_name,
                   username=user.username, is_bot=bool(user.is_bot))


def media_kind(message: "types.Message") -> str | None:
    """The stored media kind, or None for plain text (and link previews)."""
    if message.media is None:
        return None
    kind = _enum_value(message.media)
    if kind == "web_page":
        return None
    return _MEDIA_KIND.get(kind, "other")


def message_text(message: "types.Message") -> str:
    """Text, else caption, else a sticker's emoji (what the export importer keeps)."""
    text = message.text or message.caption
    if text:
        return str(text)
    if message.sticker is not None and message.sticker.emoji:
        return message.sticker.emoji
    return ""


def sender_name(message: "types.Message") -> str | None:
    if message.from_user is not None:
        return full_name(message.from_user.first_name, message.from_user.last_name) or message.from_user.username
    if message.sender_chat is not None:
        return chat_title(message.sender_chat) or None
    return None


def sender_id(message: "types.Message") -> int | None:
    if message.from_user is not None:
        return message.from_user.id
    if message.sender_chat is not None:
        return message.sender_chat.id
    return None


def is_storable(message: "types.Message") -> bool:
    """Service messages (joins, pins, calls…) and empty ones are not conversation: not stored."""
    return not message.empty and message.service is None and message.chat is not None


def is_kept_chat(chat: "types.Chat", owner_id: int | None, allowed: Collection[int] = ()) -> bool:
    """False for Telegram's service chats and bots (storage.service_chats), unless allowed."""
    return not is_service_chat(chat.id, chat_type=chat_type(chat, owner_id),
                               is_support=bool(getattr(chat, "is_support", False)), allowed=allowed)


def message_row(message: "types.Message") -> MessageRow:
    """One stored message. Call only for `is_storable` messages."""
    return MessageRow(
        chat_id=message.chat.id,
        message_id=message.id,
        sender_id=sender_id(message),
        sender_name=sender_name(message),
        outgoing=bool(message.outgoing),
        date=int(message.date.timestamp()) if message.date else 0,
        text=message_text(message),
        media=media_kind(message),
        reply_to=message.reply_to_message_id,
        forwarded=message.forward_origin is not None,
        edited_at=int(message.edit_date.timestamp()) if message.edit_date else None,
    )


def users_in(message: "types.Message") -> list["types.User"]:
    return [message.from_user] if message.from_user is not None else []
