"""Dialogue shape shared by training and live replies: messages → turns → sessions → context.

Pure functions over plain data. Training builds its examples with `split_sessions` and
`context_before`; live replies build their prompt with `live_context`. Both go through the same
two functions, so the model sees the same kind of context at training and at serving time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

# Joins the owner's consecutive messages inside one turn, so a reply can be split back into
# several Telegram messages: one message per line. Measured (issue 10): the earlier dedicated symbol
# ("\n␞\n", U+241E) was learned poorly (adapters put ~17 % probability on a second message where the
# data had 28 %, and emitted runs of look-alike symbols), while a newline is what every base model
# has seen between chat lines. A line break inside one message becomes a space (`clean_text`), so
# the split is exact. The old symbol is still split on and stripped (drafts stored before).
MESSAGE_SEPARATOR = "\n"
_OLD_SEPARATOR_SYMBOL = "␞"

Role = Literal["partner", "owner"]


class StoredMessage(Protocol):
    """What the dialogue code needs from a stored message (storage.MessageRow fits)."""

    message_id: int
    sender_id: int | None
    sender_name: str | None
    outgoing: bool
    date: int
    text: str
    media: str | None


@dataclass(frozen=True, slots=True)
class Turn:
    """Consecutive messages of one side. `speaker` names the partner (each speaker in groups)."""

    role: Role
    messages: tuple[str, ...]
    speaker: str | None = None
    date: int = 0
    message_id: int | None = field(default=None, compare=False)
    """The stored id of the turn's first message (None for turns not read from storage): with the
    chat id, what training coverage and the held-out split key a turn and a session by."""

    @property
    def text(self) -> str:
        return join_messages(self.messages)


@dataclass(frozen=True, slots=True)
class Recollection:
    """An earlier exchange of the same chat, retrieved from outside the context window (memory).

    `turns` are oldest first; `message_ids` are the stored ids of every message they hold (what the
    reply log records: ids, never texts); `date` is the exchange's first message's date."""

    turns: tuple[Turn, ...]
    message_ids: tuple[int, ...]
    date: int


@dataclass(frozen=True, slots=True)
class Dialogue:
    """A context to answer: earlier turns (oldest first), ending with the turn to reply to, and
    what memory recalled for it from earlier in the same chat (oldest first; empty without memory)."""

    turns: tuple[Turn, ...]
    partner_name: str | None = None
    relationship: str | None = None
    is_group: bool = False
    memory: tuple[Recollection, ...] = ()


def clean_text(text: str) -> str:
    """Normalise one message to one line: line breaks inside it become spaces (a line break is the
    message separator) and the old separator symbol goes, so split → join → split is exact."""
    lines = (line.strip() for line in text.replace(_OLD_SEPARATOR_SYMBOL, "\n").splitlines())
    return " ".join(line for line in lines if line)


def join_messages(messages: Sequence[str]) -> str:
    return MESSAGE_SEPARATOR.join(messages)


def split_reply(text: str) -> list[str]:
    """A generated owner turn → the Telegram messages to send, one per line (empty lines dropped;
    the old `␞` separator of stored drafts splits too)."""
    parts = (p.strip() for p in text.replace(_OLD_SEPARATOR_SYMBOL, "\n").splitlines())
    return [p for p in parts if p]


class ChatInfo(Protocol):
    """What the per-contact conditioning needs from a chat (storage.ChatRow fits)."""

    type: str
    title: str | None

    def relationship_in_use(self, auto_use: bool) -> str | None:
        """The confirmed relationship, else the suggestion when the owner allowed automatic use."""


GROUP_CHAT_TYPES = ("group", "supergroup", "channel")


def chat_header(chat: ChatInfo, relationship_auto_use: bool = False) -> Dialogue:
    """Per-contact conditioning (partner name, relationship, group or not) with no turns yet: the
    one rule training examples and live replies both build their dialogue header with. The
    relationship is the owner-confirmed one (a suggestion only with `relationship_auto_use`)."""
    is_group = chat.type in GROUP_CHAT_TYPES
    relationship = chat.relationship_in_use(relationship_auto_use)
    return Dialogue((), None if is_group else (chat.title or None), relationship, is_group)


def message_text(message: StoredMessage, keep_media: bool = True) -> str | None:
    """The text a message contributes to a dialogue, or None if it contributes nothing.

    Media become typed placeholders (`[photo]`, `[sticker 😀]`) with any caption after them.
    """
    text = clean_text(message.text or "")
    if message.media:
        if not keep_media:
            return text or None
        placeholder = f"[{message.media}]"
        return f"{placeholder} {text}" if text else placeholder
    return text or None


def split_sessions(
    messages: Iterable[StoredMessage], gap_seconds: int, keep_media: bool = True
) -> list[list[Turn]]:
    """Messages in time order → sessions of turns. A silence longer than `gap_seconds` starts a
    new session; consecutive messages of the same sender merge into one turn."""
    sessions: list[list[Turn]] = []
    current: list[Turn] = []
    last_date: int | None = None
    for message in messages:
        text = message_text(message, keep_media)
        if text is None:
            continue
        if last_date is not None and message.date - last_date > gap_seconds:
            if current:
                sessions.append(current)
            current = []
        last_date = message.date
        role: Role = "owner" if message.outgoing else "partner"
        speaker = None if message.outgoing else (message.sender_name or None)
        if current and current[-1].role == role and current[-1].speaker == speaker:
            prev = current[-1]
            current[-1] = Turn(role, prev.messages + (text,), speaker, message.date, prev.message_id)
        else:
            current.append(Turn(role, (text,), speaker, message.date, message.message_id))
    if current:
        sessions.append(current)
    return sessions


def context_before(session: Sequence[Turn], index: int, k: int) -> tuple[Turn, ...]:
    """Up to `k` turns before `session[index]` (the same K as live replies use)."""
    return tuple(session[max(0, index - k):index])


def live_context(
    messages: Sequence[StoredMessage], k: int, gap_seconds: int, keep_media: bool = True
) -> tuple[Turn, ...]:
    """The context for answering now: the last session's last `k` turns (ending with the partner's
    burst). Same sessionisation and K as training."""
    sessions = split_sessions(messages, gap_seconds, keep_media)
    if not sessions:
        return ()
    last = sessions[-1]
    return tuple(last[-k:])
