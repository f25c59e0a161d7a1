"""Import a Telegram Desktop export (`result.json`) into storage.

Both shapes Telegram Desktop writes are read: the single-chat export (`{name, type, id, messages}`)
and the full-account export (`personal_information`, `chats.list[]`, `left_chats.list[]`).

How it streams. Exports reach hundreds of MB, so the file is never loaded whole. `_JsonCursor`
walks the outer structure (root → chats → chat → messages) itself and hands each leaf value and
each whole message object to the C JSON decoder (`json.JSONDecoder.raw_decode`), reading the file
in 1 MiB pieces. We measured this against ijson (yajl2_c): `ijson.items` over the messages is ~40 %
slower than `raw_decode` per message, and ijson can only tell where one chat's messages end and
the next chat's begin through its Python-level event stream (25 events per message), which is
slower still. Memory is bounded by one message plus a few chunks of rows.

How it writes. Parsing runs in a worker thread and hands chunks of rows over a bounded queue
to the event loop, which inserts them with `storage.messages.insert_messages` (idempotent:
`(chat_id, message_id)` already present → skipped). So parsing overlaps with SQLite (which
releases the GIL while it works), and a running event loop is never blocked by the import.

Why one transaction. Bad input (not JSON, truncated, wrong shapes, unknown owner) must leave the
database exactly as before, and a truncated file is only discovered at its end. So the whole
import runs inside one `db.atomic()` while the rows go in bounded chunks: SQLite keeps only its
page cache in memory and spills the rest of the open transaction to the WAL file, so one
transaction costs disk, not RAM, and a failure anywhere rolls everything back.
"""

from __future__ import annotations

import asyncio
import functools
import json
import json.scanner
import logging
import queue
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from storage import Database
from storage import chats as chat_queries
from storage import kv
from storage import messages as message_queries
from storage.rows import MEDIA_KINDS, ChatRow, ChatType, MessageRow, UserRow

log = logging.getLogger(__name__)

# Rows per insert: large enough that executemany dominates the per-chunk cost, small enough that
# the queue (QUEUE_CHUNKS deep) stays a few MB.
CHUNK_ROWS = 5_000
QUEUE_CHUNKS = 4
_READ_CHARS = 1 << 20
# A single JSON value (a message, a chat header) larger than this is refused instead of buffered.
_MAX_VALUE_CHARS = 64 << 20
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
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_COMMA = re.compile(r"[ \t\n\r]*,[ \t\n\r]*")


class ExportFormatError(ValueError):
    """The file is not a Telegram Desktop export we can import; the message is a one-line reason."""


@dataclass(slots=True)
class ImportResult:
    owner_id: int
    chats: int = 0
    messages_added: int = 0
    messages_skipped: int = 0  # already in the database (re-import, or harvested before)
    service_skipped: int = 0  # joins, calls, pins…: not messages
    media_placeholders: int = 0
    chats_skipped: int = 0  # chat types this importer does not know


# --------------------------------------------------------------------------- pure conversion


def kurigram_chat(export_type: str, export_id: int) -> tuple[int, ChatType] | None:
    """The export's chat type and bare id → (kurigram chat id, our chat type); None if unknown."""
    known = _CHAT_TYPES.get(export_type)
    if known is None:
        return None
    chat_type, to_id = known
    return to_id(export_id), chat_type


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
        return number
    return -(_CHANNEL_OFFSET + number) if kind == "channel" else -number


def message_text(text: Any) -> str:
    """`text` is a string, or a list of strings and entity objects (`{"type": …, "text": …}`)."""
    if isinstance(text, str):
        return text
    if not isinstance(text, list):
        raise ExportFormatError(f"a message text is a {type(text).__name__}, not a string or list")
    parts = []
    for part in text:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, dict) and isinstance(part.get("text", ""), str):
            parts.append(part.get("text", ""))
        else:
            raise ExportFormatError("a message text list holds something other than strings and entities")
    return "".join(parts)


def media_kind(message: dict[str, Any]) -> str | None:
    """The typed placeholder for the message's media, or None for plain text."""
    media_type = message.get("media_type")
    if media_type is not None:
        return _MEDIA_TYPES.get(media_type, "other")
    for key, kind in _MEDIA_KEYS:
        if key in message:
            return kind
    return None


def _iso_unix(value: Any) -> int:
    # Only exports older than `date_unixtime` lack it; their dates are the exporter's local time,
    # which the file does not record, so UTC is the best guess.
    return int(datetime.fromisoformat(value).replace(tzinfo=timezone.utc).timestamp())


def message_row(message: Any, chat_id: int, owner_id: int) -> MessageRow | None:
    """One export message → a row; None for service messages (joins, calls, pins…).

    On the hot path of a million-message import: plain dict lookups, no helper per field.
    """
    if type(message) is not dict:
        raise ExportFormatError("a message is not a JSON object")
    if message.get("type", "message") != "message":
        return None
    message_id = message.get("id")
    if type(message_id) is not int:
        raise ExportFormatError("a message has no integer id")
    try:
        unix = message.get("date_unixtime")
        date = int(unix) if unix is not None else _iso_unix(message["date"])
        unix = message.get("edited_unixtime")
        if unix is not None:
            edited_at: int | None = int(unix)
        else:
            edited_at = _iso_unix(message["edited"]) if "edited" in message else None
    except KeyError:
        raise ExportFormatError(f"message {message_id} has no date") from None
    except (TypeError, ValueError):
        raise ExportFormatError(f"message {message_id} has an unreadable date") from None
    text = message.get("text", "")
    if type(text) is not str:
        text = message_text(text)
    media = None if _MEDIA_KEYSET.isdisjoint(message) else media_kind(message)
    if media == "sticker" and not text:
        text = message.get("sticker_emoji") or ""
    sender = peer_id(message.get("from_id"))
    reply_to = message.get("reply_to_message_id")
    return MessageRow(
        chat_id, message_id, sender, message.get("from"), sender == owner_id, date, text, media,
        reply_to if type(reply_to) is int else None, "forwarded_from" in message, edited_at,
    )


# --------------------------------------------------------------------------- streaming JSON


class _JsonCursor:
    """A forward-only cursor over a JSON text: structure by hand, values by the C decoder."""

    def __init__(self, file: TextIO) -> None:
        self._file = file
        self._buf = ""
        self._pos = 0
        self._offset = 0  # characters dropped from the front of the buffer
        self._eof = False
        decoder = json.JSONDecoder()
        self._decode = decoder.raw_decode
        self._scan = json.scanner.make_scanner(decoder)  # the C scanner behind raw_decode

    def _fill(self) -> bool:
        if self._eof:
            return False
        piece = self._file.read(_READ_CHARS)
        if not piece:
            self._eof = True
            return False
        self._offset += self._pos
        self._buf = self._buf[self._pos:] + piece
        self._pos = 0
        return True

    def _error(self, reason: str) -> ExportFormatError:
        if self._eof and self._pos >= len(self._buf):
            return ExportFormatError(f"truncated JSON: the file ends early ({reason})")
        return ExportFormatError(f"not valid JSON at character {self._offset + self._pos}: {reason}")

    def peek(self) -> str:
        """The next non-blank character ('' at the end of the file)."""
        while True:
            self._pos = _WHITESPACE.match(self._buf, self._pos).end()  # type: ignore[union-attr]
            if self._pos < len(self._buf):
                return self._buf[self._pos]
            if not self._fill():
                return ""

    def expect(self, char: str) -> None:
        found = self.peek()
        if found != char:
            raise self._error(f"expected {char!r}, found {found!r}" if found else f"expected {char!r}")
        self._pos += 1

    def value(self) -> Any:
        """Decode the whole value at the cursor (a message, a scalar, a small object)."""
        self.peek()
        while True:
            try:
                value, end = self._decode(self._buf, self._pos)
            except json.JSONDecodeError as exc:
                if self._maybe_incomplete(exc) and self._fill():
                    continue
                self._pos = exc.pos
                raise self._error(exc.msg) from None
            if end == len(self._buf) and self._fill():
                continue  # a number at the end of the buffer may go on in the next piece
            self._pos = end
            return value

    def _maybe_incomplete(self, exc: json.JSONDecodeError) -> bool:
        """Could more text fix this error? (The value may just run past the buffer.)"""
        if len(self._buf) - self._pos > _MAX_VALUE_CHARS:
            return False
        return exc.msg.startswith("Unterminated string") or exc.pos >= len(self._buf) - 16

    def keys(self, what: str) -> Iterator[str]:
        """Each key of the object at the cursor; the caller consumes each value before the next."""
        if self.peek() != "{":
            raise ExportFormatError(f"{what} is not a JSON object")
        self._pos += 1
        if self.peek() == "}":
            self._pos += 1
            return
        while True:
            if self.peek() != '"':
                raise self._error("expected a key")
            key = self.value()
            self.expect(":")
            yield key
            sep = self.peek()
            self._pos += 1
            if sep == "}":
                return
            if sep != ",":
                self._pos -= 1
                raise self._error("expected ',' or '}'")

    def items(self, what: str) -> Iterator[None]:
        """Steps through the array at the cursor; the caller consumes one value per step."""
        if self.peek() != "[":
            raise ExportFormatError(f"{what} is not a list")
        self._pos += 1
        if self.peek() == "]":
            self._pos += 1
            return
        while True:
            yield
            sep = self.peek()
            self._pos += 1
            if sep == "]":
                return
            if sep != ",":
                self._pos -= 1
                raise self._error("expected ',' or ']'")

    def values(self, what: str) -> Iterator[Any]:
        """Each value of the array at the cursor, decoded whole: the messages loop.

        The fast path is one C scan and one separator match per value; anything unusual (a
        value running past the buffer, odd spacing, an error) goes through the careful path.
        """
        if self.peek() != "[":
            raise ExportFormatError(f"{what} is not a list")
        self._pos += 1
        if self.peek() == "]":
            self._pos += 1
            return
        scan, comma = self._scan, _COMMA.match
        while True:
            buf = self._buf
            try:
                value, end = scan(buf, self._pos)
            except (StopIteration, json.JSONDecodeError):
                value = self.value()
            else:
                if end < len(buf):
                    self._pos = end
                else:
                    value = self.value()
            yield value
            match = comma(self._buf, self._pos)
            if match is not None:
                self._pos = match.end()
                continue
            sep = self.peek()
            self._pos += 1
            if sep == "]":
                return
            if sep != ",":
                self._pos -= 1
                raise self._error("expected ',' or ']'")

    def skip(self) -> None:
        """Step over a value we do not need without building it (contacts lists can be large)."""
        char = self.peek()
        if char == "{":
            for _ in self.keys("value"):
                self.skip()
        elif char == "[":
            for _ in self.items("value"):
                self.skip()
        else:
            self.value()

    def at_end(self) -> bool:
        return self.peek() == ""


# --------------------------------------------------------------------------- export walker


@dataclass(slots=True)
class _Chat:
    id: int
    type: ChatType
    title: str


@dataclass
class _ExportReader:
    """Walks one export and yields chunks of message rows; collects chats, users and counts."""

    path: Path
    owner_hint: int | None  # --owner-id
    stored_owner: int | None  # the owner this database already belongs to
    owner_id: int | None = None
    owner: UserRow | None = None
    chats: dict[int, ChatRow] = field(default_factory=dict)
    users: dict[int, str] = field(default_factory=dict)
    bots: set[int] = field(default_factory=set)
    parsed: int = 0  # message entries read, service ones included
    service_skipped: int = 0
    media_placeholders: int = 0
    chats_skipped: int = 0
    _batch: list[MessageRow] = field(default_factory=list)

    def chunks(self) -> Iterator[list[MessageRow]]:
        try:
            with self.path.open(encoding="utf-8") as file:
                yield from self._document(_JsonCursor(file))
        except UnicodeDecodeError:
            raise ExportFormatError("not a Telegram Desktop export: the file is not UTF-8 text") from None
        if self._batch:
            yield self._batch
            self._batch = []

    def _document(self, cursor: _JsonCursor) -> Iterator[list[MessageRow]]:
        if cursor.peek() not in ("{", ""):
            raise ExportFormatError("not a Telegram Desktop export: the top level is not a JSON object")
        if cursor.peek() == "":
            raise ExportFormatError("not a Telegram Desktop export: the file is empty")
        header: dict[str, Any] = {}
        found_messages = False
        for key in cursor.keys("the top level"):
            if key == "personal_information":
                self._personal_information(cursor.value())
            elif key in ("chats", "left_chats"):
                found_messages = True
                for list_key in cursor.keys(key):
                    if list_key == "list":
                        for _item in cursor.items(f"{key}.list"):
                            yield from self._chat(cursor)
                    else:
                        cursor.skip()
            elif key in ("name", "type", "id"):
                header[key] = cursor.value()
            elif key == "messages":  # the single-chat export
                found_messages = True
                yield from self._messages(cursor, self._chat_header(header))
            else:
                cursor.skip()
        if not cursor.at_end():
            raise ExportFormatError("not valid JSON: data after the end of the export")
        if not found_messages:
            raise ExportFormatError("not a Telegram Desktop export: no `chats` or `messages` at the top level")
        if self.owner_id is None:
            self._resolve_owner()

    def _personal_information(self, info: Any) -> None:
        if not isinstance(info, dict) or type(info.get("user_id")) is not int:
            raise ExportFormatError("personal_information has no integer user_id")
        self.owner_id = info["user_id"]
        self.owner = UserRow(
            self.owner_id, info.get("first_name") or None, info.get("last_name") or None,
            (info.get("username") or "").lstrip("@") or None,
        )
        if self.owner_hint is not None and self.owner_hint != self.owner_id:
            raise ExportFormatError(
                f"--owner-id {self.owner_hint} does not match the export's owner {self.owner_id}"
            )
        self._check_stored_owner()

    def _resolve_owner(self) -> int:
        if self.owner_id is None:
            if self.owner_hint is None and self.stored_owner is None:
                raise ExportFormatError(
                    "unknown owner: the export has no personal_information.user_id; pass --owner-id"
                )
            self.owner_id = self.owner_hint if self.owner_hint is not None else self.stored_owner
            self._check_stored_owner()
        return self.owner_id  # type: ignore[return-value]

    def _check_stored_owner(self) -> None:
        if self.stored_owner is not None and self.stored_owner != self.owner_id:
            raise ExportFormatError(
                f"this database belongs to owner {self.stored_owner}, the export is of {self.owner_id}"
            )

    def _chat(self, cursor: _JsonCursor) -> Iterator[list[MessageRow]]:
        header: dict[str, Any] = {}
        chat: _Chat | None = None
        for key in cursor.keys("a chat"):
            if key in ("name", "type", "id"):
                header[key] = cursor.value()
            elif key == "messages":
                chat = self._chat_header(header)
                yield from self._messages(cursor, chat)
            else:
                cursor.skip()
        if chat is None:
            self._chat_header(header)

    def _chat_header(self, header: dict[str, Any]) -> _Chat | None:
        """Register the chat from its name/type/id (None: a type we skip)."""
        export_type, export_id = header.get("type"), header.get("id")
        if not isinstance(export_type, str) or type(export_id) is not int:
            raise ExportFormatError("a chat's messages come before its `id` and `type` (or they are missing)")
        resolved = kurigram_chat(export_type, export_id)
        if resolved is None:
            self.chats_skipped += 1
            log.warning("skipping a chat of unknown export type %r", export_type)
            return None
        chat_id, chat_type = resolved
        name = header.get("name")
        title = name if isinstance(name, str) else ""
        if chat_type == "self":
            title = title or "Saved Messages"
        if chat_type == "bot":
            self.bots.add(chat_id)
        self.chats[chat_id] = ChatRow(chat_id, chat_type, title)
        return _Chat(chat_id, chat_type, title)

    def _messages(self, cursor: _JsonCursor, chat: _Chat | None) -> Iterator[list[MessageRow]]:
        owner_id = self._resolve_owner()
        if chat is None:
            cursor.skip()
            return
        chat_id, batch, users = chat.id, self._batch, self.users
        for message in cursor.values("messages"):
            row = message_row(message, chat_id, owner_id)
            self.parsed += 1
            if row is None:
                self.service_skipped += 1
                continue
            if row.media is not None:
                self.media_placeholders += 1
            sender = row.sender_id
            if sender is not None and sender > 0 and row.sender_name:
                users[sender] = row.sender_name
            batch.append(row)
            if len(batch) >= CHUNK_ROWS:
                yield batch
                batch = self._batch = []

    def chat_rows(self) -> list[ChatRow]:
        """Chats with titles; a private chat with no name (deleted account) takes the partner's."""
        for chat in self.chats.values():
            if not chat.title and chat.type in ("private", "bot"):
                chat.title = self.users.get(chat.id, "")
        return list(self.chats.values())

    def user_rows(self) -> list[UserRow]:
        rows = [
            UserRow(user_id, first_name=name, is_bot=user_id in self.bots)
            for user_id, name in self.users.items()
            if self.owner is None or user_id != self.owner.id
        ]
        if self.owner is not None:
            rows.append(self.owner)
        return rows


# --------------------------------------------------------------------------- the import


_DONE = object()


def _produce(reader: _ExportReader, handoff: "queue.Queue[object]", stop: threading.Event) -> None:
    """Worker thread: parse and hand over chunks; an error is handed over to be raised."""
    item: object
    try:
        for chunk in reader.chunks():
            if not _put(handoff, chunk, stop):
                return
        item = _DONE
    except ExportFormatError as exc:
        item = exc
    except OSError as exc:
        item = ExportFormatError(f"cannot read {reader.path}: {exc.strerror or exc}")
    except RecursionError:
        item = ExportFormatError("not a Telegram Desktop export: nesting too deep")
    except BaseException as exc:  # handed to the importer, which re-raises it
        item = exc
    _put(handoff, item, stop)


def _put(handoff: "queue.Queue[object]", item: object, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            handoff.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


async def import_export(
    db: Database,
    path: Path,
    owner_id: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Import one export file; `progress` gets the number of messages read so far.

    Raises ExportFormatError (database unchanged) on anything that is not a readable export.
    """
    path = Path(path)
    if not path.is_file():
        raise ExportFormatError(f"{path}: no such file")
    stored_owner = await kv.get_value(db, kv.OWNER_ID)
    reader = _ExportReader(path, owner_id, stored_owner)
    handoff: queue.Queue[object] = queue.Queue(maxsize=QUEUE_CHUNKS)
    stop = threading.Event()
    worker = threading.Thread(target=_produce, args=(reader, handoff, stop), name="export-reader", daemon=True)
    added = rows = 0
    try:
        async with db.atomic():
            worker.start()
            while True:
                item = await asyncio.to_thread(handoff.get)
                if item is _DONE:
                    break
                if isinstance(item, BaseException):
                    raise item
                chunk: list[MessageRow] = item  # type: ignore[assignment]
                added += await message_queries.insert_messages(db, chunk, "export")
                rows += len(chunk)
                if progress is not None:
                    progress(reader.parsed)
            await chat_queries.upsert_chats(db, reader.chat_rows())
            await chat_queries.upsert_users(db, reader.user_rows())
            await kv.set_value(db, kv.OWNER_ID, reader.owner_id)
    finally:
        stop.set()  # a worker blocked on a full queue gives up
        if worker.ident is not None:
            worker.join()
    assert reader.owner_id is not None
    result = ImportResult(
        owner_id=reader.owner_id, chats=len(reader.chats), messages_added=added,
        messages_skipped=rows - added, service_skipped=reader.service_skipped,
        media_placeholders=reader.media_placeholders, chats_skipped=reader.chats_skipped,
    )
    log.info(
        "export imported: %d chats, %d messages added, %d already present, %d service skipped, %d media",
        result.chats, result.messages_added, result.messages_skipped, result.service_skipped,
        result.media_placeholders,
    )
    return result
