"""Export message/chat objects → storage rows (pure; the row shape is `storage.rows`, shared with
`bot.convert`, which turns kurigram objects into the same rows).

Every value that reaches SQLite is checked here: integers must fit its 64-bit INTEGER and dates
Telegram's 32-bit unix time, so a malformed export fails with a one-line `ExportFormatError`
instead of an OverflowError from the driver half-way through.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from storage.rows import MEDIA_KINDS, ChatType, MessageRow
from telegram_export.errors import ExportFormatError

# SQLite INTEGER is a signed 64-bit value.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# MTProto dates are 32-bit unix seconds: anything outside is not a date Telegram wrote.
_DATE_MIN, _DATE_MAX = 0, 2**32 - 1
# Telegram's bare channel/supergroup id x is -100x in the Bot-API/kurigram convention.
_CHANNEL_OFFSET = 10**12

# Export chat type → (our type, how the bare export id becomes a kurigram chat id).
_CHAT_TYPES: dict[str, tuple[ChatType, Callable[[int], int]]] = {
    "personal_chat": ("private", lambda i: i),
    "bot_chat": ("bot", lambda i: i),
    "saved_messages": ("self", lambda i: i),
    "replies": ("private", lambda i: i),
    "verification_codes": ("private", lambda i: i),
    "private_group": ("group", lambda i: -i),
    "private_supergroup": ("supergroup", lambda i: -(_CHANNEL_OFFSET + i)),
    "public_supergroup": ("supergroup", lambda i: -(_CHANNEL_OFFSET + i)),
    "private_channel": ("channel", lambda i: -(_CHANNEL_OFFSET + i)),
    "public_channel": ("channel", lambda i: -(_CHANNEL_OFFSET + i)),
}

# Export `media_type` → our media kind; other media are recognised by their keys (_MEDIA_KEYS).
_MEDIA_TYPES = {
    "sticker": "sticker", "voice_message": "voice", "video_message": "video_note",
    "video_file": "video", "animation": "animation", "audio_file": "audio",
}
_MEDIA_KEYS = (
    ("photo", "photo"), ("file", "document"), ("location_information", "location"),
    ("place_name", "location"), ("contact_information", "contact"), ("poll", "poll"),
    ("game_title", "game"), ("dice_emoji", "dice"), ("invoice_information", "other"),
)
_MEDIA_KEYSET = frozenset(["media_type", *(key for key, _ in _MEDIA_KEYS)])
assert set(_MEDIA_TYPES.values()) | {kind for _, kind in _MEDIA_KEYS} <= set(MEDIA_KINDS)

_FROM_ID = re.compile(r"(user|channel|chat)(\d+)")


def checked_id(value: int, what: str) -> int:
    """`value` if it fits SQLite's 64-bit INTEGER, else a one-line ExportFormatError."""
    if not INT64_MIN <= value <= INT64_MAX:
        raise ExportFormatError(f"{what} {value} does not fit in 64 bits")
    return value


def kurigram_chat(export_type: str, export_id: int) -> tuple[int, ChatType] | None:
    """The export's chat type and bare id → (kurigram chat id, our chat type); None if unknown."""
    known = _CHAT_TYPES.get(export_type)
    if known is None:
        return None
    chat_type, to_id = known
    return checked_id(to_id(export_id), "a chat id"), chat_type


@functools.lru_cache(maxsize=65536)
def peer_id(from_id: str | None) -> int | None:
    """`user123` → 123, `channel123` → -100123, `chat123` → -123; anything else → None."""
    if not isinstance(from_id, str):
        return None
    match = _FROM_ID.fullmatch(from_id)
    if match is None:
        return None
    kind, number = match.group(1), int(match.group(2))
    if kind == "user":
        peer = number
    else:
        peer = -(_CHANNEL_OFFSET + number) if kind == "channel" else -number
    return checked_id(peer, "a sender id")


def message_text(text: Any) -> str:
    """`text` (or `text_entities`) is a string, or a list of strings and entity objects
    (`{"type": …, "text": …}`)."""
    if isinstance(text, str):
        return text
    if not isinstance(text, list):
        raise ExportFormatError(f"a message text is of type {type(text).__name__}, not a string or list")
    parts = []
    for part in text:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, dict) and isinstance(part.get("text", ""), str):
            parts.append(part.get("text", ""))
        else:
            raise ExportFormatError("a message text list holds something other than strings and entities")
    return "".join(parts)


def _fallback_text(message: dict[str, Any], text: Any) -> str:
    """The text when `text` is not a plain non-empty string: its entity-list form, else (absent
    or empty) `text_entities`, which some exporters write instead of `text`."""
    if text is not None:
        from_text = message_text(text)  # a wrong type is an error even when entities exist
        if from_text:
            return from_text
    entities = message.get("text_entities")
    return "" if entities is None else message_text(entities)


def text_unreadable(message: dict[str, Any]) -> bool:
    """A message that is neither text nor media and carries neither `text` nor `text_entities`:
    whatever it said could not be read (imported with an empty text, and counted)."""
    return "text" not in message and "text_entities" not in message and _MEDIA_KEYSET.isdisjoint(message)


def media_kind(message: dict[str, Any]) -> str | None:
    """The typed placeholder for the message's media, or None for plain text."""
    media_type = message.get("media_type")
    if media_type is not None:
        return _MEDIA_TYPES.get(media_type, "other")
    for key, kind in _MEDIA_KEYS:
        if key in message:
            return kind
    return None


def _unix(value: Any, iso: Any, message_id: int) -> int:
    # Only exports older than `date_unixtime` lack it; their dates are the exporter's local time,
    # which the file does not record, so UTC is the best guess.
    try:
        if value is not None:
            if type(value) in (float, bool):
                raise ValueError  # 1e400 decodes to inf, NaN to nan, and `true` is no date either
            seconds = int(value)
        elif type(iso) is str:
            seconds = int(datetime.fromisoformat(iso).replace(tzinfo=UTC).timestamp())
        else:
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        raise ExportFormatError(f"message {message_id} has an unreadable date") from None
    if not _DATE_MIN <= seconds <= _DATE_MAX:
        raise ExportFormatError(f"message {message_id} has a date out of range ({seconds})")
    return seconds


def message_params(message: Any, chat_id: int, owner_id: int) -> tuple[object, ...] | None:
    """One export message → its row in `MessageRow.as_params("export")` form; None for service
    messages (joins, calls, pins…).

    The hot path of a million-message import, so it builds the insert tuple directly: plain dict
    lookups, no helper per field on the common path, no intermediate object.
    """
    if type(message) is not dict:
        raise ExportFormatError("a message is not a JSON object")
    if message.get("type", "message") != "message":
        return None
    message_id = message.get("id")
    if type(message_id) is not int:
        raise ExportFormatError("a message has no integer id")
    if not INT64_MIN <= message_id <= INT64_MAX:
        checked_id(message_id, "a message id")
    if "date_unixtime" not in message and "date" not in message:
        raise ExportFormatError(f"message {message_id} has no date")
    unix = message.get("date_unixtime")
    if type(unix) is str:  # the common case inline: this is the hot path
        try:
            date = int(unix)
        except ValueError:
            date = _unix(unix, None, message_id)  # raises the one-line reason
    else:
        date = _unix(unix, message.get("date"), message_id)
    if not _DATE_MIN <= date <= _DATE_MAX:
        raise ExportFormatError(f"message {message_id} has a date out of range ({date})")
    if "edited_unixtime" in message or "edited" in message:
        edited_at: int | None = _unix(message.get("edited_unixtime"), message.get("edited"), message_id)
    else:
        edited_at = None
    text = message.get("text")
    if type(text) is not str or not text:
        text = _fallback_text(message, text)
    media = None if _MEDIA_KEYSET.isdisjoint(message) else media_kind(message)
    if media == "sticker":
        emoji = message.get("sticker_emoji")
        if emoji is not None and type(emoji) is not str:
            raise ExportFormatError(f"message {message_id} has a sticker_emoji that is not a string")
        text = text or emoji or ""
    from_id = message.get("from_id")
    if from_id is not None and type(from_id) is not str:
        raise ExportFormatError(f"message {message_id} has a from_id that is not a string")
    sender = peer_id(from_id)
    name = message.get("from")
    reply_to = message.get("reply_to_message_id")
    if type(reply_to) is int:
        checked_id(reply_to, "a reply_to_message_id")
    else:
        reply_to = None
    return (
        chat_id, message_id, sender, name if type(name) is str else None, int(sender == owner_id), date,
        text, media, reply_to, int("forwarded_from" in message), edited_at, 0, "export",
    )


def message_row(message: Any, chat_id: int, owner_id: int) -> MessageRow | None:
    """`message_params` as a `MessageRow` (for callers that want the row, not the insert tuple)."""
    params = message_params(message, chat_id, owner_id)
    if params is None:
        return None
    (chat_id, message_id, sender, name, outgoing, date, text, media, reply_to, forwarded, edited_at, _, _) = params
    return MessageRow(
        chat_id, message_id, sender, name, bool(outgoing), date, text, media,  # type: ignore[arg-type]
        reply_to, bool(forwarded), edited_at,  # type: ignore[arg-type]
    )
