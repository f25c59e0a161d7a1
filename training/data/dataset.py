"""Dialogue examples from stored history: which chats, which turns, what context, which split.

Pure functions over plain rows (`build_dataset`), plus one thin async reader at the bottom
(`load_dataset`) that fetches the rows through `storage`. Sessionisation and K come from
`model.dialogue`, the same code live replies use, so training and serving see the same context.

Every owner turn becomes an example — also the last one of a session and one that opens a
session (marked `owner_initiated`, with no context) — so no owner reply is lost, unlike the
original project, which dropped each session's final exchange. Examples (one owner turn and its
context) are what evaluation scores and generates for; training itself reads whole sessions
(`BuiltDataset.conversations`, encoded by `training.data.sequences`), a turn with a blocked word cut out
(the session splits around it).

The held-out split is by session and stays put (`heldout_session`): a stable hash of the chat and
the session's first message decides, so runs months apart are evaluated on the same turns, and
new history adds sessions to both sides without moving an existing one. A whole session goes to
one side, so no held-out reply ever appears in a training sequence, not even as context.

Memory (issue 20): the build records what recall needs (each example's context window start, each
conversation's session start, the held-out sessions' messages); `load_dataset` then has
`training.data.dataset_memory` attach what `memory.recall` brings back, by that module's rules.
"""

from __future__ import annotations

import hashlib
import math
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Self

from model.dialogue import (
    Dialogue,
    Recollection,
    StoredMessage,
    Turn,
    chat_header,
    context_before,
    split_sessions,
)
from model.redaction import contains_blocked, redact
from storage.rows import ChatRow
from training.data.sequences import Conversation

Split = Literal["train", "heldout"]
GROUP_TYPES = ("group", "supergroup")  # chats whose training is opted into by `train_groups`
HELDOUT_FRACTION = 0.1
"""Share of sessions held out for evaluation (by hash, so about this share of owner turns too)."""


@dataclass(frozen=True, slots=True)
class DatasetOptions:
    """How history becomes examples; `from_settings` reads the user's configuration."""

    context_turns: int = 10
    gap_seconds: int = 180 * 60
    redact_pii: bool = True
    blocked_words: tuple[str, ...] = ()
    keep_media: bool = True
    train_groups: bool = False
    heldout_fraction: float = HELDOUT_FRACTION
    relationship_auto_use: bool = False
    """Condition on a suggested relationship the owner has not confirmed (`chat_header`)."""

    @classmethod
    def from_settings(cls, settings: Any) -> Self:
        return cls(
            context_turns=settings.context_turns,
            gap_seconds=settings.session_gap_minutes * 60,
            redact_pii=settings.redact_pii,
            blocked_words=tuple(settings.blocked_words),
            keep_media=settings.train_keep_media,
            train_groups=settings.train_groups,
            relationship_auto_use=settings.relationship_auto_use,
        )


@dataclass(frozen=True, slots=True)
class DialogueExample:
    """One owner reply and the dialogue it answered (the partner-facing prompt)."""

    chat_id: int
    dialogue: Dialogue
    reply: Turn
    owner_initiated: bool = False
    split: Split = "train"
    window_start: int = 0
    """The date of its context window's first message (the reply's own without context): memory
    recalls only what lies before it, as serving does (`bot.context`)."""

    @property
    def date(self) -> int:
        return self.reply.date

    def to_json(self) -> dict[str, Any]:
        d = self.dialogue
        return {
            "chat_id": self.chat_id,
            "date": self.date,
            "split": self.split,
            "owner_initiated": self.owner_initiated,
            "partner_name": d.partner_name,
            "relationship": d.relationship,
            "is_group": d.is_group,
            "window_start": self.window_start,
            "memory": [_recollection_json(r) for r in d.memory],
            "context": [_turn_json(t) for t in d.turns],
            "reply": list(self.reply.messages),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DialogueExample:
        """As `to_json` wrote it; a line written before memory reads with none."""
        turns = tuple(_turn(t) for t in data["context"])
        memory = tuple(Recollection(tuple(_turn(t) for t in r["turns"]), tuple(r["message_ids"]), r["date"])
                       for r in data.get("memory") or ())
        dialogue = Dialogue(turns, data.get("partner_name"), data.get("relationship"), data.get("is_group", False),
                            memory)
        reply = Turn("owner", tuple(data["reply"]), None, data["date"])
        return cls(data["chat_id"], dialogue, reply, data.get("owner_initiated", False), data.get("split", "train"),
                   data.get("window_start", 0))


def _turn_json(turn: Turn) -> dict[str, Any]:
    return {"role": turn.role, "speaker": turn.speaker, "messages": list(turn.messages), "date": turn.date}


def _turn(data: dict[str, Any]) -> Turn:
    return Turn(data["role"], tuple(data["messages"]), data.get("speaker"), data.get("date", 0))


def _recollection_json(memory: Recollection) -> dict[str, Any]:
    return {"date": memory.date, "message_ids": list(memory.message_ids), "turns": [_turn_json(t) for t in memory.turns]}


@dataclass(frozen=True, slots=True)
class ChatHistory:
    """A chat and its live messages in time order, without the bot's own turns
    (`storage.dataset_queries.training_history`), and how many messages that left out."""

    chat: ChatRow
    messages: Sequence[StoredMessage]
    excluded_bot_messages: int = 0
    """Messages the bot sent (or drafted and the owner sent unchanged): never training targets."""
    excluded_context_messages: int = 0
    """Messages dropped with them (the partner turn they answered, owner messages of a mixed turn)."""


@dataclass(slots=True)
class DatasetStats:
    chats: int = 0
    examples: int = 0
    train: int = 0
    heldout: int = 0
    owner_initiated: int = 0
    blocked: int = 0
    redactions: Counter[str] = field(default_factory=Counter)
    first_date: int | None = None
    last_date: int | None = None
    excluded_bot_messages: int = 0
    """The bot's own messages left out of the allowed chats' histories (see `ChatHistory`)."""
    excluded_context_messages: int = 0
    memory_conversations: int = 0
    """Training conversations memory recalled something for (`training.data.dataset_memory`)."""
    memory_examples: int = 0
    """Examples memory recalled something for."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "chats": self.chats, "examples": self.examples, "train": self.train, "heldout": self.heldout,
            "owner_initiated": self.owner_initiated, "blocked": self.blocked,
            "excluded_bot_messages": self.excluded_bot_messages,
            "excluded_context_messages": self.excluded_context_messages,
            "memory_conversations": self.memory_conversations, "memory_examples": self.memory_examples,
            "redactions": dict(self.redactions), "first_date": self.first_date, "last_date": self.last_date,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DatasetStats:
        """As a run report stored them (`as_dict`); a count a record does not have reads as 0."""
        counts = {k: int(data.get(k) or 0) for k in ("chats", "examples", "train", "heldout", "owner_initiated",
                                                     "blocked", "excluded_bot_messages", "excluded_context_messages",
                                                     "memory_conversations", "memory_examples")}
        return cls(**counts, redactions=Counter(data.get("redactions") or {}), first_date=data.get("first_date"),
                   last_date=data.get("last_date"))


@dataclass(slots=True)
class BuiltDataset:
    examples: list[DialogueExample]
    stats: DatasetStats
    conversations: list[Conversation] = field(default_factory=list)
    """The training sessions (held-out ones never), for whole-conversation rows."""
    heldout_message_ids: Mapping[int, frozenset[int]] = field(default_factory=dict)
    """Per chat, the messages of its held-out sessions: training memory never recalls them."""
    history: Mapping[int, Sequence[StoredMessage]] = field(default_factory=dict)
    """Per allowed chat, the messages the build read (time order): what evaluation's memory_recall
    finds fact-dependent turns in, without reading the history twice."""

    @property
    def train(self) -> list[DialogueExample]:
        return [e for e in self.examples if e.split == "train"]

    @property
    def heldout(self) -> list[DialogueExample]:
        return [e for e in self.examples if e.split == "heldout"]


def chat_allowed(chat: ChatRow, train_groups: bool) -> bool:
    """Private chats by default; groups when opted in globally or per chat; the chat's own `train`
    flag wins either way. Bots, channels and Saved Messages only when explicitly opted in."""
    if chat.train is not None:
        return chat.train
    if chat.type == "private":
        return True
    if chat.type in GROUP_TYPES:
        return train_groups
    return False


def redact_sessions(sessions: list[list[Turn]], counts: Counter[str]) -> list[list[Turn]]:
    """PII out of every message, once per message (a turn appears in many contexts)."""
    out = []
    for session in sessions:
        new_session = []
        for turn in session:
            messages = []
            for text in turn.messages:
                clean, found = redact(text)
                counts.update(found)
                messages.append(clean)
            new_session.append(replace(turn, messages=tuple(messages)))
        out.append(new_session)
    return out


def session_examples(
    chat_id: int, header: Dialogue, session: Sequence[Turn], k: int
) -> list[DialogueExample]:
    """Every owner turn of a session → one example with up to `k` earlier turns of the session."""
    examples = []
    for index, turn in enumerate(session):
        if turn.role != "owner":
            continue
        context = context_before(session, index, k)
        dialogue = replace(header, turns=context)
        examples.append(DialogueExample(chat_id, dialogue, turn, owner_initiated=index == 0))
    return examples


def _is_blocked(example: DialogueExample, blocked_words: Sequence[str]) -> bool:
    texts = [example.reply.text, *(t.text for t in example.dialogue.turns)]
    return any(contains_blocked(t, blocked_words) for t in texts)


def heldout_count(n: int, fraction: float = HELDOUT_FRACTION) -> int:
    """How many of `n` items in time order (the most recent) a time split holds out: `fraction`
    rounded up, but none of a single one (the preference stage splits its pairs so)."""
    if n < 2:
        return 0
    return min(n - 1, math.ceil(n * fraction))


def heldout_session(chat_id: int, first_message_id: int | None, fraction: float = HELDOUT_FRACTION) -> bool:
    """Whether a session is held out: a stable hash of (chat, the session's first message id) falls
    below `fraction`. Not a position or a shuffle of today's data, so new messages (a session going
    on, new sessions, new chats) never move a session across sides. The exceptions: an older
    message stored later just before a session (within the session gap: a harvest reaching further
    back) or one filling the gap between two sessions (they merge; the later part takes the earlier
    part's side), and deleting a session's first message: the session is keyed anew. Turns not
    read from storage (no id) always train."""
    if first_message_id is None:
        return False
    digest = hashlib.sha256(f"{chat_id}:{first_message_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") < fraction * 2**64


@dataclass(frozen=True, slots=True)
class ChatDataset:
    """One chat's part of the dataset (`build_chat_examples`)."""

    examples: list[DialogueExample]
    conversations: list[Conversation]
    heldout_message_ids: frozenset[int]
    """Every message in the span of one of its held-out sessions."""


def build_chat_examples(history: ChatHistory, options: DatasetOptions, stats: DatasetStats) -> ChatDataset:
    """One chat's examples with their split, its training conversations and the messages of its
    held-out sessions; updates `stats`."""
    sessions = split_sessions(history.messages, options.gap_seconds, options.keep_media)
    if options.redact_pii:
        sessions = redact_sessions(sessions, stats.redactions)
    header = chat_header(history.chat, options.relationship_auto_use)
    chat_id = history.chat.id
    first_dates = {m.message_id: m.date for m in history.messages}

    def first_date(turn: Turn) -> int:
        """When the turn's first message was sent (a turn's `date` is its last message's)."""
        return first_dates.get(turn.message_id, turn.date) if turn.message_id is not None else turn.date

    examples: list[DialogueExample] = []
    conversations: list[Conversation] = []
    heldout_spans: list[tuple[int, int]] = []
    for session in sessions:
        split: Split = "heldout" if heldout_session(chat_id, session[0].message_id, options.heldout_fraction) else "train"
        for example in session_examples(chat_id, header, session, options.context_turns):
            if options.blocked_words and _is_blocked(example, options.blocked_words):
                stats.blocked += 1
                continue
            window_start = first_date(example.dialogue.turns[0] if example.dialogue.turns else example.reply)
            examples.append(replace(example, split=split, window_start=window_start))
        if split == "train":
            conversations.extend(session_conversations(chat_id, header, session, options.blocked_words,
                                                       session_start=first_date(session[0])))
        else:
            heldout_spans.append((first_date(session[0]), session[-1].date))
    return ChatDataset(examples, conversations, messages_within(history.messages, heldout_spans))


def messages_within(messages: Sequence[StoredMessage], spans: Sequence[tuple[int, int]]) -> frozenset[int]:
    """Ids of `messages` (in time order) dated within one of `spans` (first, last date; inclusive)."""
    dates = [m.date for m in messages]
    return frozenset(m.message_id for first, last in spans
                     for m in messages[bisect_left(dates, first):bisect_right(dates, last)])


def session_conversations(
    chat_id: int, header: Dialogue, session: Sequence[Turn], blocked_words: Sequence[str] = (), *,
    session_start: int = 0,
) -> list[Conversation]:
    """A training session as conversations: split around turns that hold a blocked word (those are
    cut out), each part kept if it has an owner turn. `session_start`: the date of the session's
    first message (every part's memory recalls only what lies before it)."""
    out: list[Conversation] = []
    current: list[Turn] = []

    def close() -> None:
        if any(t.role == "owner" for t in current):
            out.append(Conversation(chat_id, replace(header, turns=tuple(current)), session_start))
        current.clear()

    for turn in session:
        if blocked_words and contains_blocked(turn.text, blocked_words):
            close()
            continue
        current.append(turn)
    close()
    return out


def build_dataset(histories: Iterable[ChatHistory], options: DatasetOptions) -> BuiltDataset:
    """All allowed chats → examples (train and held-out) and counts."""
    stats = DatasetStats()
    examples: list[DialogueExample] = []
    conversations: list[Conversation] = []
    heldout_message_ids: dict[int, frozenset[int]] = {}
    read: dict[int, Sequence[StoredMessage]] = {}
    for history in histories:
        if not chat_allowed(history.chat, options.train_groups):
            continue
        read[history.chat.id] = history.messages
        stats.excluded_bot_messages += history.excluded_bot_messages
        stats.excluded_context_messages += history.excluded_context_messages
        chat = build_chat_examples(history, options, stats)
        if chat.examples:
            stats.chats += 1
        examples.extend(chat.examples)
        conversations.extend(chat.conversations)
        if chat.heldout_message_ids:
            heldout_message_ids[history.chat.id] = chat.heldout_message_ids
    stats.examples = len(examples)
    stats.train = sum(e.split == "train" for e in examples)
    stats.heldout = stats.examples - stats.train
    stats.owner_initiated = sum(e.owner_initiated for e in examples)
    train_dates = [e.date for e in examples if e.split == "train"]
    if train_dates:
        stats.first_date, stats.last_date = min(train_dates), max(train_dates)
    return BuiltDataset(examples, stats, conversations, heldout_message_ids, read)


async def load_dataset(db: Any, settings: Any, *, with_memory: bool = True) -> BuiltDataset:
    """Read every allowed chat's history through `storage` (without the bot's own turns) and build
    the dataset, with memory attached (`training.data.dataset_memory`; none with `memory_enabled`
    off). `with_memory=False` skips recall for callers that only count turns (coverage)."""
    from storage import dataset_queries
    from training.data.dataset_memory import attach_memory

    options = DatasetOptions.from_settings(settings)
    histories = []
    for chat in await dataset_queries.all_chats(db):
        if chat_allowed(chat, options.train_groups):
            history = await dataset_queries.training_history(db, chat.id)
            histories.append(ChatHistory(chat, history.messages, history.excluded_bot_messages,
                                         history.excluded_context_messages))
    built = build_dataset(histories, options)
    return await attach_memory(db, settings, built) if with_memory else built
