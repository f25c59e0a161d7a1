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

How it writes. The reader runs off the event loop — in a thread for small files, in a child
process for large ones (see "reading off the loop" below) — and hands chunks of ready insert
tuples over a bounded queue to the event loop, which inserts them with
`storage.messages.insert_message_params` (idempotent: `(chat_id, message_id)` already present →
skipped). A running event loop is never blocked by an import.

Why one transaction. Bad input (not JSON, truncated, wrong shapes, unknown owner) must leave the
database exactly as before, and a truncated file is only discovered at its end. So the whole
import runs inside one `db.atomic()` while the rows go in bounded chunks: SQLite keeps only its
page cache in memory and spills the rest of the open transaction to the WAL file, so one
transaction costs disk, not RAM, and a failure anywhere rolls everything back.
"""

from __future__ import annotations

import asyncio
import codecs
import functools
import json
import json.scanner
import logging
import os
import pickle
import queue
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from storage import Database, kv
from storage import chats as chat_queries
from storage import messages as message_queries
from storage.rows import MEDIA_KINDS, ChatRow, ChatType, MessageRow, UserRow

log = logging.getLogger(__name__)

# Rows per insert: large enough that executemany dominates the per-chunk cost, small enough that
# the queue (QUEUE_CHUNKS deep) stays a few MB.
CHUNK_ROWS = 10_000
QUEUE_CHUNKS = 3
# Files this large are read in a child process (see "reading off the loop"); smaller ones are not
# worth the interpreter start-up.
PROCESS_THRESHOLD_BYTES = 32 << 20
_READ_BYTES = 1 << 20
_REFILL_MARGIN = 64 << 10
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
    return int(datetime.fromisoformat(value).replace(tzinfo=UTC).timestamp())


def message_params(message: Any, chat_id: int, owner_id: int) -> tuple[object, ...] | None:
    """One export message → its row in `MessageRow.as_params("export")` form; None for service
    messages (joins, calls, pins…).

    The hot path of a million-message import, so it builds the insert tuple directly: plain dict
    lookups, no helper per field, no intermediate object.
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
    name = message.get("from")
    reply_to = message.get("reply_to_message_id")
    return (
        chat_id, message_id, sender, name if type(name) is str else None, int(sender == owner_id), date,
        text, media, reply_to if type(reply_to) is int else None, int("forwarded_from" in message),
        edited_at, 0, "export",
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


# --------------------------------------------------------------------------- streaming JSON


class _JsonCursor:
    """A forward-only cursor over a JSON text: structure by hand, values by the C decoder."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        # Decoding whole 1 MiB pieces at once: TextIOWrapper.read(n) decodes in 8 KiB steps.
        self._utf8 = codecs.getincrementaldecoder("utf-8-sig")()
        self._buf = ""
        self._pos = 0
        self._offset = 0  # characters dropped from the front of the buffer
        self._eof = False
        decoder = json.JSONDecoder()
        self._decode = decoder.raw_decode
        self._scan = json.scanner.make_scanner(decoder)  # the C scanner behind raw_decode

    def _fill(self) -> bool:
        """Append the next piece of the file to the buffer; False at the end of the file."""
        while not self._eof:
            data = self._file.read(_READ_BYTES)
            piece = self._utf8.decode(data, final=not data)
            self._eof = not data
            if piece:
                self._offset += self._pos
                self._buf = self._buf[self._pos:] + piece
                self._pos = 0
                return True
        return False

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
            if len(self._buf) - self._pos < _REFILL_MARGIN:
                # Refill before a value runs off the buffer: a failed scan costs far more.
                self._fill()
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
class ReadSummary:
    """What the reader learnt besides the rows: the owner, chats, users and counts."""

    owner_id: int
    chats: list[ChatRow]
    users: list[UserRow]
    parsed: int
    service_skipped: int
    media_placeholders: int
    skipped_chat_types: list[str]


@dataclass
class _ExportReader:
    """Walks one export and yields chunks of insert parameters (`MessageRow.as_params`)."""

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
    skipped_chat_types: list[str] = field(default_factory=list)
    _batch: list[tuple[object, ...]] = field(default_factory=list)

    def chunks(self) -> Iterator[list[tuple[object, ...]]]:
        try:
            with self.path.open("rb") as file:
                yield from self._document(_JsonCursor(file))
        except UnicodeDecodeError:
            raise ExportFormatError("not a Telegram Desktop export: the file is not UTF-8 text") from None
        except RecursionError:
            raise ExportFormatError("not a Telegram Desktop export: nesting too deep") from None
        if self._batch:
            yield self._batch
            self._batch = []

    def _document(self, cursor: _JsonCursor) -> Iterator[list[tuple[object, ...]]]:
        first = cursor.peek()
        if first == "":
            raise ExportFormatError("not a Telegram Desktop export: the file is empty")
        if first != "{":
            raise ExportFormatError("not a Telegram Desktop export: the top level is not a JSON object")
        header: dict[str, Any] = {}
        found_messages = False
        for key in cursor.keys("the top level"):
            if key == "personal_information":
                self._personal_information(cursor.value())
            elif key in ("chats", "left_chats"):
                found_messages = True
                for list_key in cursor.keys(key):
                    if list_key == "list":
                        for _ in cursor.items(f"{key}.list"):
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
        self._resolve_owner()

    def _personal_information(self, info: Any) -> None:
        if not isinstance(info, dict) or type(info.get("user_id")) is not int:
            raise ExportFormatError("personal_information has no integer user_id")
        self.owner_id = info["user_id"]
        self.owner = UserRow(
            info["user_id"], info.get("first_name") or None, info.get("last_name") or None,
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

    def _chat(self, cursor: _JsonCursor) -> Iterator[list[tuple[object, ...]]]:
        header: dict[str, Any] = {}
        seen_messages = False
        for key in cursor.keys("a chat"):
            if key in ("name", "type", "id"):
                header[key] = cursor.value()
            elif key == "messages":
                seen_messages = True
                yield from self._messages(cursor, self._chat_header(header))
            else:
                cursor.skip()
        if not seen_messages:
            self._chat_header(header)

    def _chat_header(self, header: dict[str, Any]) -> _Chat | None:
        """Register the chat from its name/type/id (None: a type we skip)."""
        export_type, export_id = header.get("type"), header.get("id")
        if not isinstance(export_type, str) or type(export_id) is not int:
            raise ExportFormatError("a chat's messages come before its `id` and `type` (or they are missing)")
        resolved = kurigram_chat(export_type, export_id)
        if resolved is None:
            self.skipped_chat_types.append(export_type)
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

    def _messages(self, cursor: _JsonCursor, chat: _Chat | None) -> Iterator[list[tuple[object, ...]]]:
        owner_id = self._resolve_owner()
        if chat is None:
            cursor.skip()
            return
        chat_id, batch, users = chat.id, self._batch, self.users
        parsed = service = media = 0
        for message in cursor.values("messages"):
            row = message_params(message, chat_id, owner_id)
            parsed += 1
            if row is None:
                service += 1
                continue
            if row[7] is not None:  # media
                media += 1
            sender = row[2]
            if sender is not None and sender > 0 and row[3]:  # type: ignore[operator]
                users[sender] = row[3]  # type: ignore[index,assignment]
            batch.append(row)
            if len(batch) >= CHUNK_ROWS:
                self.parsed += parsed
                parsed = 0
                yield batch
                batch = self._batch = []
        self.parsed += parsed
        self.service_skipped += service
        self.media_placeholders += media

    def summary(self) -> ReadSummary:
        """Chats with titles (a private chat with no name — a deleted account — takes the
        partner's), users with the owner's full profile, and the counts."""
        for chat in self.chats.values():
            if not chat.title and chat.type in ("private", "bot"):
                chat.title = self.users.get(chat.id, "")
        users = [
            UserRow(user_id, first_name=name, is_bot=user_id in self.bots)
            for user_id, name in self.users.items()
            if self.owner is None or user_id != self.owner.id
        ]
        if self.owner is not None:
            users.append(self.owner)
        return ReadSummary(
            self._resolve_owner(), list(self.chats.values()), users, self.parsed, self.service_skipped,
            self.media_placeholders, self.skipped_chat_types,
        )


# --------------------------------------------------------------------------- reading off the loop
#
# The reader's output reaches the importer through a bounded queue as ("rows", parsed, params),
# then ("done", summary), or ("error", exception). Small files are read by a thread. Large ones
# are read by a child process: Python's sqlite3 takes the GIL back after every row it steps, so
# a reader *thread* and the inserts only take turns; a reader *process* really runs beside them
# (measured by bench/import_bench.py).

Item = tuple[str, Any, Any]


def _read_items(reader: _ExportReader) -> Iterator[Item]:
    try:
        for chunk in reader.chunks():
            yield ("rows", reader.parsed, chunk)
        yield ("done", reader.summary(), None)
    except ExportFormatError as exc:
        yield ("error", exc, None)
    except OSError as exc:
        yield ("error", ExportFormatError(f"cannot read {reader.path}: {exc.strerror or exc}"), None)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:  # a shape the checks missed
        yield ("error", ExportFormatError(f"unexpected shape in the export ({type(exc).__name__}: {exc})"), None)


def _frames_from_process(process: subprocess.Popen[bytes]) -> Iterator[Item]:
    """Length-prefixed pickles written by `_serve_frames` in the child."""
    stream = process.stdout
    assert stream is not None
    while True:
        header = stream.read(8)
        if len(header) < 8:
            code = process.wait()
            yield ("error", RuntimeError(f"the export reader process stopped (exit code {code})"), None)
            return
        item: Item = pickle.loads(stream.read(int.from_bytes(header, "little")))
        yield item
        if item[0] != "rows":
            return


def _serve_frames(path: Path, owner_hint: int | None, stored_owner: int | None) -> None:
    """The child process: read the export, write frames to stdout."""
    out = sys.stdout.buffer
    for item in _read_items(_ExportReader(path, owner_hint, stored_owner)):
        frame = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
        out.write(len(frame).to_bytes(8, "little"))
        out.write(frame)
    out.flush()


def _start_reader_process(path: Path, owner_hint: int | None, stored_owner: int | None) -> subprocess.Popen[bytes]:
    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
    args = [sys.executable, "-m", "bot.export_import", str(path.resolve()), str(owner_hint), str(stored_owner)]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, env=env, cwd=root)
    try:  # Linux: a 1 MiB pipe moves a chunk in a few hand-overs between the processes, not dozens
        import fcntl

        fcntl.fcntl(process.stdout.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)  # type: ignore[union-attr]
    except (ImportError, OSError):
        pass
    return process


def _pump(items: Iterator[Item], handoff: "queue.Queue[Item]", stop: threading.Event) -> None:
    """Worker thread: move items into the bounded queue until the end, an error, or `stop`."""
    try:
        for item in items:
            if not _put(handoff, item, stop) or item[0] != "rows":
                return
    except BaseException as exc:  # handed over; the importer re-raises it
        _put(handoff, ("error", exc, None), stop)


def _put(handoff: "queue.Queue[Item]", item: Item, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            handoff.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


# --------------------------------------------------------------------------- the import


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
    process = None
    if path.stat().st_size >= PROCESS_THRESHOLD_BYTES:
        process = _start_reader_process(path, owner_id, stored_owner)
        items = _frames_from_process(process)
    else:
        items = _read_items(_ExportReader(path, owner_id, stored_owner))
    handoff: queue.Queue[Item] = queue.Queue(maxsize=QUEUE_CHUNKS)
    stop = threading.Event()
    worker = threading.Thread(target=_pump, args=(items, handoff, stop), name="export-reader", daemon=True)
    added = rows = 0
    try:
        async with db.atomic():
            worker.start()
            while True:
                kind, payload, chunk = await asyncio.to_thread(handoff.get)
                if kind == "error":
                    raise payload
                if kind == "done":
                    summary: ReadSummary = payload
                    break
                added += await message_queries.insert_message_params(db, chunk)
                rows += len(chunk)
                if progress is not None:
                    progress(payload)
            await chat_queries.upsert_chats(db, summary.chats)
            await chat_queries.upsert_users(db, summary.users)
            await kv.set_value(db, kv.OWNER_ID, summary.owner_id)
    finally:
        stop.set()  # a worker blocked on a full queue gives up
        if process is not None and process.poll() is None:
            process.kill()
        if worker.ident is not None:
            worker.join()
        if process is not None:
            process.wait()
            assert process.stdout is not None
            process.stdout.close()
    for export_type in sorted(set(summary.skipped_chat_types)):
        log.warning("skipped chats of unknown export type %r", export_type)
    result = ImportResult(
        owner_id=summary.owner_id, chats=len(summary.chats), messages_added=added, messages_skipped=rows - added,
        service_skipped=summary.service_skipped, media_placeholders=summary.media_placeholders,
        chats_skipped=len(summary.skipped_chat_types),
    )
    log.info(
        "export imported: %d chats, %d messages added, %d already present, %d service skipped, %d media",
        result.chats, result.messages_added, result.messages_skipped, result.service_skipped,
        result.media_placeholders,
    )
    return result


def _optional_int(text: str) -> int | None:
    return None if text == "None" else int(text)


if __name__ == "__main__":  # the reader process: python -m bot.export_import PATH OWNER_HINT STORED_OWNER
    # Through the importable module, so pickled classes (ExportFormatError, rows) are found by the parent.
    from bot import export_import as importable

    importable._serve_frames(Path(sys.argv[1]), _optional_int(sys.argv[2]), _optional_int(sys.argv[3]))
