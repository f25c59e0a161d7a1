"""Walks one Telegram Desktop export and yields chunks of insert parameters.

Both shapes Telegram Desktop writes are read: the single-chat export (`{name, type, id, messages}`)
and the full-account export (`personal_information`, `chats.list[]`, `left_chats.list[]`).
Besides the rows it learns the owner, the chats, the senders and the counts (`ReadSummary`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from storage.rows import ChatRow, ChatType, UserRow
from storage.service_chats import is_service_chat
from telegram_export.errors import ExportFormatError
from telegram_export.json_stream import JsonCursor
from telegram_export.rows import checked_id, kurigram_chat, message_params, text_unreadable

# Rows per chunk: large enough that executemany dominates the per-chunk cost, small enough that
# the read-ahead queue (a few chunks deep) stays a few MB.
CHUNK_ROWS = 10_000

Params = tuple[object, ...]


@dataclass(frozen=True, slots=True)
class ReadSummary:
    """What the walker learnt besides the rows: the owner, chats, senders and counts."""

    owner_id: int
    profile: UserRow | None  # personal_information, when the export has it
    chats: tuple[ChatRow, ...]
    senders: tuple[UserRow, ...]  # everyone else seen sending, named as the export shows them
    parsed: int
    service_skipped: int
    media_placeholders: int
    texts_unreadable: int
    skipped_chat_types: tuple[str, ...]
    service_chats_skipped: int = 0  # service chats and bots: never stored unless allowed


@dataclass(slots=True)
class _Chat:
    id: int
    type: ChatType
    title: str
    label: str  # how errors name it: the export's own id and name (message ids repeat across chats)


def _optional_str(info: dict[str, Any], key: str) -> str | None:
    value = info.get(key)
    if value is None or value == "":
        return None
    if type(value) is not str:
        raise ExportFormatError(f"personal_information.{key} is not a string")
    return value


@dataclass
class ExportWalker:
    """One pass over one export file; `chunks()` once, then `summary()`."""

    path: Path
    owner_hint: int | None  # --owner-id
    stored_owner: int | None  # the owner this database already belongs to
    allowed_service_chats: tuple[int, ...] = ()  # service chats/bots the owner asked to keep
    owner_id: int | None = None
    profile: UserRow | None = None
    chats: dict[int, ChatRow] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)
    bots: set[int] = field(default_factory=set)
    parsed: int = 0  # message entries read, service ones included
    service_skipped: int = 0
    media_placeholders: int = 0
    texts_unreadable: int = 0
    skipped_chat_types: list[str] = field(default_factory=list)
    service_chats_skipped: int = 0
    _batch: list[Params] = field(default_factory=list)

    def chunks(self) -> Iterator[list[Params]]:
        """Chunks of at most CHUNK_ROWS insert tuples. Any malformed input raises
        ExportFormatError, whatever the shape of the damage."""
        if self.owner_hint is not None:
            checked_id(self.owner_hint, "--owner-id")
        try:
            with self.path.open("rb") as file:
                yield from self._document(JsonCursor(file))
        except ExportFormatError:
            raise
        except UnicodeDecodeError:
            raise ExportFormatError("not a Telegram Desktop export: the file is not UTF-8 text") from None
        except RecursionError:
            raise ExportFormatError("not a Telegram Desktop export: nesting too deep") from None
        except MemoryError:
            raise ExportFormatError("a value in the export is too large to read") from None
        except IsADirectoryError:
            raise ExportFormatError("is a directory, not an export file") from None
        except OSError as exc:
            raise ExportFormatError(f"cannot read the file: {exc.strerror or exc}") from None
        except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as exc:  # a shape the checks missed
            raise ExportFormatError(f"unexpected shape in the export ({type(exc).__name__}: {exc})") from None
        if self._batch:
            yield self._batch
            self._batch = []

    def _document(self, cursor: JsonCursor) -> Iterator[list[Params]]:
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
        user_id = checked_id(info["user_id"], "personal_information.user_id")
        if self.profile is not None and self.profile.id != user_id:
            # A repeated key: the chats read so far were attributed to the first owner.
            raise ExportFormatError(
                f"two personal_information blocks name different owners ({self.profile.id} and {user_id})"
            )
        self.owner_id = user_id
        username = _optional_str(info, "username")
        self.profile = UserRow(
            self.owner_id, _optional_str(info, "first_name"), _optional_str(info, "last_name"),
            username.lstrip("@") or None if username else None,
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

    def _chat(self, cursor: JsonCursor) -> Iterator[list[Params]]:
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
        if is_service_chat(chat_id, chat_type=chat_type, allowed=self.allowed_service_chats):
            self.service_chats_skipped += 1
            return None
        name = header.get("name")
        title = name if isinstance(name, str) else ""
        if chat_type == "self":
            title = title or "Saved Messages"
        if chat_type == "bot":
            self.bots.add(chat_id)
        self.chats[chat_id] = ChatRow(chat_id, chat_type, title)
        label = f"chat {export_id} {name!r}" if isinstance(name, str) and name else f"chat {export_id}"
        return _Chat(chat_id, chat_type, title, label)

    def _messages(self, cursor: JsonCursor, chat: _Chat | None) -> Iterator[list[Params]]:
        owner_id = self._resolve_owner()
        if chat is None:
            cursor.skip()
            return
        try:
            yield from self._chat_messages(cursor, chat, owner_id)
        except ExportFormatError as exc:
            raise ExportFormatError(f"in {chat.label}: {exc}") from None

    def _chat_messages(self, cursor: JsonCursor, chat: _Chat, owner_id: int) -> Iterator[list[Params]]:
        chat_id, batch, names = chat.id, self._batch, self.names
        parsed = service = media = unreadable = 0
        for message in cursor.values("messages"):
            row = message_params(message, chat_id, owner_id)
            parsed += 1
            if row is None:
                service += 1
                continue
            if row[7] is not None:  # media
                media += 1
            elif not row[6] and text_unreadable(message):
                unreadable += 1
            sender = row[2]
            if sender is not None and sender > 0 and row[3]:  # type: ignore[operator]
                names[sender] = row[3]  # type: ignore[index,assignment]
            batch.append(row)
            if len(batch) >= CHUNK_ROWS:
                self.parsed += parsed
                parsed = 0
                yield batch
                batch = self._batch = []
        self.parsed += parsed
        self.service_skipped += service
        self.media_placeholders += media
        self.texts_unreadable += unreadable

    def summary(self) -> ReadSummary:
        """Chats with titles (a private chat with no name — a deleted account — takes the
        partner's), the senders, the owner's profile, and the counts."""
        for chat in self.chats.values():
            if not chat.title and chat.type in ("private", "bot"):
                chat.title = self.names.get(chat.id, "")
        senders = tuple(
            UserRow(user_id, first_name=name, is_bot=user_id in self.bots) for user_id, name in self.names.items()
        )
        return ReadSummary(
            self._resolve_owner(), self.profile, tuple(self.chats.values()), senders, self.parsed,
            self.service_skipped, self.media_placeholders, self.texts_unreadable, tuple(self.skipped_chat_types),
            self.service_chats_skipped,
        )
