"""Preference pairs from drafts: (context, chosen = what the owner wrote, rejected = the suggestion).

Two ways the owner tells us which reply they prefer:

- **edited** — they sent a draft after changing it (`drafts.sent_text` differs from `drafts.text`);
- **own reply** — they did not send the draft (discarded it, or left it pending) and answered in that
  chat themselves within `OWN_REPLY_WINDOW_SECONDS`, before the partner wrote again.

Near-identical texts are not preferences (see `is_meaningful_edit`). The context is rebuilt the way
training builds it: the chat's messages up to the draft's trigger (or its creation time), cut into
sessions by `model.dialogue.split_sessions`, the last session's last K turns (`context_before`),
with the same per-chat header, chat opt-outs, PII redaction and blocked words as the SFT dataset.

Pure functions over plain rows (`build_preference_pairs`); the async readers at the bottom fetch the
rows through `storage` and count pairs for the status.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol

from model.dialogue import (
    Dialogue,
    StoredMessage,
    chat_header,
    context_before,
    join_messages,
    message_text,
    split_reply,
    split_sessions,
)
from storage.replies import Draft
from storage.rows import ChatRow
from training.data.dataset import DatasetOptions, chat_allowed
from model.redaction import contains_blocked, redact

PairKind = Literal["edited", "own_reply"]

# The owner's own answer counts against a draft only if it came this soon after the draft. Longer,
# and it more likely answers something new (a call, a later thought) than the message the draft
# answered; a partner message in between already disqualifies it (the context changed).
OWN_REPLY_WINDOW_SECONDS = 30 * 60
# Messages read before a draft to rebuild its context (K turns of several messages each), the same
# budget live replies use (`bot.context.ROWS_PER_TURN`).
CONTEXT_ROWS_PER_TURN = 8
# Drafts of one chat whose windows are read at once: one read instead of two per draft (10,000
# drafts took 12 s as 20,000 reads), while the rows held stay bounded by this many drafts' span.
DRAFTS_PER_READ = 200


@dataclass(frozen=True, slots=True)
class PairOptions(DatasetOptions):
    """How drafts become pairs: the SFT dataset's options (same context, redaction, opt-outs) and
    how soon after a discarded draft the owner's own answer still counts as the answer to it."""

    own_reply_window_seconds: int = OWN_REPLY_WINDOW_SECONDS


@dataclass(frozen=True, slots=True)
class PreferencePair:
    """One preference: in `dialogue`, the owner wrote `chosen` where the model suggested `rejected`.
    Both are owner turns in the dialogue format (messages joined by `MESSAGE_SEPARATOR`)."""

    draft_id: int
    chat_id: int
    dialogue: Dialogue
    chosen: str
    rejected: str
    kind: PairKind
    date: int
    """When the draft was made (pairs are split into train and held-out by time)."""


@dataclass(frozen=True, slots=True)
class DraftWithMessages:
    """A draft, its chat, and the chat's messages around it in time order (`storage.preference.messages_around`)."""

    draft: Draft
    chat: ChatRow
    messages: Sequence[StoredMessage]


@dataclass(frozen=True, slots=True)
class PreferencePairCounts:
    """For `main.py status --json` and the panel: pairs that exist now, and those no run learned from."""

    total: int
    unused: int
    edited: int
    own_reply: int

    def as_dict(self) -> dict[str, int]:
        return {"total": self.total, "unused": self.unused, "edited": self.edited, "own_reply": self.own_reply}


# ---------------------------------------------------------------------- what counts as a preference

def normalise_reply(text: str) -> str:
    """Whitespace-insensitive form of a reply: message breaks and runs of spaces become one space."""
    return " ".join(" ".join(split_reply(text)).split())


def _within_one_edit(a: str, b: str) -> bool:
    """Levenshtein distance of `a` and `b` is at most 1 (one insert, delete or substitution)."""
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    if len(a) == len(b):
        return a[i + 1:] == b[i + 1:]
    return a[i:] == b[i + 1:]


def is_meaningful_edit(suggested: str, written: str) -> bool:
    """Whether the owner's text differs from the suggestion enough to be a preference.

    Not a preference: identical after normalising whitespace and message breaks (splitting a reply
    into messages differently), or a single-character edit (typo, trailing period, one capital
    letter). Case is kept: lowering a whole sentence is the owner's style, not noise.
    """
    a, b = normalise_reply(suggested), normalise_reply(written)
    if not a or not b:
        return False
    return not _within_one_edit(a, b)


# ---------------------------------------------------------------------- the builder

def _split_at_draft(draft: Draft, messages: Sequence[StoredMessage]) -> int:
    """Index of the first message after the draft's context: after its trigger message when known
    (the pipeline's drafts), else after the last message not newer than the draft."""
    if draft.trigger_message_id is not None:
        for index, message in enumerate(messages):
            if getattr(message, "message_id", None) == draft.trigger_message_id:
                return index + 1
    return sum(1 for m in messages if m.date <= draft.created_at)


def _context(draft: Draft, chat: ChatRow, before: Sequence[StoredMessage], options: PairOptions) -> Dialogue | None:
    sessions = split_sessions(before, options.gap_seconds, options.keep_media)
    if not sessions:
        return None
    last = sessions[-1]
    turns = context_before(last, len(last), options.context_turns)
    if not turns or turns[-1].role != "partner":
        return None  # a draft answers the partner; otherwise the stored context is not what it answered
    return replace(chat_header(chat, options.relationship_auto_use), turns=turns)


def _own_reply(draft: Draft, after: Sequence[StoredMessage], options: PairOptions) -> str | None:
    """The owner's first turn after the draft, if it started within the window and nobody else spoke first.
    A first outgoing message the bot sent (`authored_by` other than 'human': an auto-reply, a draft
    sent unchanged) is not the owner's answer."""
    first = next((m for m in after if message_text(m, options.keep_media) is not None), None)
    if first is None or not first.outgoing or first.date - draft.created_at > options.own_reply_window_seconds:
        return None
    if getattr(first, "authored_by", "human") != "human":
        return None
    return split_sessions(after, options.gap_seconds, options.keep_media)[0][0].text


def _chosen(draft: Draft, after: Sequence[StoredMessage], options: PairOptions) -> tuple[str, PairKind] | None:
    if draft.status == "sent":
        return (draft.sent_text, "edited") if draft.sent_text else None
    reply = _own_reply(draft, after, options)
    return (reply, "own_reply") if reply else None


def _redacted(pair: PreferencePair) -> PreferencePair:
    def clean(text: str) -> str:
        return redact(text)[0]

    turns = tuple(replace(t, messages=tuple(clean(m) for m in t.messages)) for t in pair.dialogue.turns)
    return replace(pair, dialogue=replace(pair.dialogue, turns=turns),
                   chosen=join_messages([clean(m) for m in split_reply(pair.chosen)]),
                   rejected=join_messages([clean(m) for m in split_reply(pair.rejected)]))


def _blocked(pair: PreferencePair, words: Sequence[str]) -> bool:
    texts = [pair.chosen, pair.rejected, *(t.text for t in pair.dialogue.turns)]
    return any(contains_blocked(t, words) for t in texts)


def pair_from_draft(item: DraftWithMessages, options: PairOptions) -> PreferencePair | None:
    """The preference one draft expresses, or None (no meaningful difference, no own reply in time,
    no context, chat not used for training, or a blocked word)."""
    draft, chat = item.draft, item.chat
    if not chat_allowed(chat, options.train_groups):
        return None
    cut = _split_at_draft(draft, item.messages)
    found = _chosen(draft, item.messages[cut:], options)
    if found is None:
        return None
    chosen, kind = found
    if not is_meaningful_edit(draft.text, chosen):
        return None
    dialogue = _context(draft, chat, item.messages[:cut], options)
    if dialogue is None:
        return None
    rejected = join_messages(split_reply(draft.text))
    chosen = join_messages(split_reply(chosen))
    pair = PreferencePair(draft.id, draft.chat_id, dialogue, chosen, rejected, kind, draft.created_at)
    if options.redact_pii:
        pair = _redacted(pair)
    if options.blocked_words and _blocked(pair, options.blocked_words):
        return None
    return pair


def build_preference_pairs(items: Iterable[DraftWithMessages], options: PairOptions) -> list[PreferencePair]:
    """Every draft's preference, oldest first."""
    return _oldest_first([p for p in (pair_from_draft(item, options) for item in items) if p is not None])


def _oldest_first(pairs: Iterable[PreferencePair]) -> list[PreferencePair]:
    return sorted(pairs, key=lambda p: (p.date, p.draft_id))


class CountedPair(Protocol):
    """What counting needs of a pair (a `PreferencePair`, or a cache's note of one)."""

    @property
    def draft_id(self) -> int: ...

    @property
    def kind(self) -> PairKind: ...


def count_pairs(pairs: Sequence[CountedPair], used_draft_ids: set[int]) -> PreferencePairCounts:
    return PreferencePairCounts(
        total=len(pairs),
        unused=sum(p.draft_id not in used_draft_ids for p in pairs),
        edited=sum(p.kind == "edited" for p in pairs),
        own_reply=sum(p.kind == "own_reply" for p in pairs),
    )


# ---------------------------------------------------------------------- readers

async def draft_items(db: Any, options: PairOptions, drafts: Sequence[Draft]) -> AsyncIterator[list[DraftWithMessages]]:
    """`drafts` with their chat and the messages around each (`storage.preference.messages_around`),
    read per chat, `DRAFTS_PER_READ` drafts at a time (one read for many windows, not two per draft)
    and yielded a read at a time (a caller on the event loop builds pairs between reads, never all
    at once). Drafts of chats that are not stored or not used for training are left out."""
    from storage import chats as chat_queries
    from storage import preference as preference_queries

    chats = await chat_queries.chats_by_id(db, {d.chat_id for d in drafts})
    rows, after = options.context_turns * CONTEXT_ROWS_PER_TURN, options.own_reply_window_seconds
    by_chat: dict[int, list[Draft]] = {}
    for draft in drafts:
        chat = chats.get(draft.chat_id)
        if chat is not None and chat_allowed(chat, options.train_groups):
            by_chat.setdefault(draft.chat_id, []).append(draft)
    for chat_id, chat_drafts in by_chat.items():
        chat_drafts.sort(key=lambda d: (d.created_at, d.id))
        for start in range(0, len(chat_drafts), DRAFTS_PER_READ):
            part = chat_drafts[start:start + DRAFTS_PER_READ]
            since = await preference_queries.window_start(db, chat_id, part[0].created_at, rows)
            messages = await preference_queries.live_messages_dated(db, chat_id, since, part[-1].created_at + after)
            yield [DraftWithMessages(d, chats[chat_id], preference_queries.messages_around(messages, d.created_at, rows, after))
                   for d in part]


async def load_preference_pairs(db: Any, settings: Any) -> list[PreferencePair]:
    """Rebuild every preference pair from stored drafts and messages."""
    from storage import preference as preference_queries

    options = PairOptions.from_settings(settings)
    pairs: list[PreferencePair] = []
    async for items in draft_items(db, options, await preference_queries.drafts_for_pairs(db)):
        pairs += build_preference_pairs(items, options)
    return _oldest_first(pairs)


async def preference_pair_counts(db: Any, settings: Any) -> PreferencePairCounts:
    """How many preference pairs exist and how many no training run has learned from yet."""
    from storage import preference as preference_queries

    pairs = await load_preference_pairs(db, settings)
    return count_pairs(pairs, await preference_queries.used_draft_ids(db))

