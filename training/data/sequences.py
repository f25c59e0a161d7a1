"""Whole-conversation training sequences: sessions → windows → token rows with loss on every owner turn.

One row holds a window of a session in the one prompt format (`PromptFormat.encode_conversation`),
with labels on every owner turn it is responsible for, so a short reply no longer drags ten
re-encoded context turns along (the per-reply rows of before put ~8 % of tokens under loss).

Windows and overlaps. A session that does not fit `max_length` is cut into windows on turn
boundaries. Each owner turn is labelled in exactly one window: a window starts with up to
`context_turns` turns before its first labelled owner turn (context shared with the previous
window, unlabelled there), then grows turn by turn while it fits. Every owner turn of the window
from there on is labelled; the next window begins at the first owner turn not yet labelled. So
every owner turn carries loss once, with at least `context_turns` turns of context (or all of its
session, when shorter), like the live bot's K. Lengths are planned on estimates and checked on the
exact encoding: a turn the exact row could not hold goes to the next window; a reply too long for
`max_length` even without context is truncated and still labelled.

Memory. Every window shows its conversation's memory (`Dialogue.memory`, for a format with memory)
in the prompt head, which is the same for all its labelled turns, so each one's serve-time prompt
with that memory stays a token prefix of the row. Memory counts toward `max_length` and goes
before any turn, as at serving (`model.context_window`): a window whose full context would not fit
with it drops recollections, oldest first, and all of them when the turns alone do not fit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from model.dialogue import Dialogue
from model.prompt import IGNORE_INDEX, PromptFormatError

Row = dict[str, list[int]]


@dataclass(frozen=True, slots=True)
class Conversation:
    """A chat's training session (or the part of one between blocked turns), with its per-contact
    header and the memory every row cut from it shows (`dialogue.memory`;
    `training.data.dataset_memory`)."""

    chat_id: int
    dialogue: Dialogue
    session_start: int = 0
    """The date of its session's first message: its memory recalls only what lies before it."""
    memory_used: tuple[int, ...] = ()
    """Its owner turns (indices into `dialogue.turns`) whose reply uses its memory: a rare word that
    the memory holds and no earlier turn of the session does (`training.data.dataset_memory`)."""


@dataclass(frozen=True, slots=True)
class TrainingSequence:
    """One encoded row and what it teaches: the owner turns (indices into its conversation's turns)
    that carry loss in it. Continual training orders and accounts for rows by these turns."""

    row: Row
    conversation: int
    """Index of the conversation (in the list encoded) the row was cut from."""
    labelled: tuple[int, ...]
    drill: int = 0
    """0 for a row of the conversation's encoding; k for the k-th memory drill of its one labelled
    turn (`memory_drills`)."""
    memory_tokens: int = 0
    """Tokens the row holds because of memory, which a run pays from its extra time
    (`TrainConfig.memory_time_share`): all of a drill's, a conversation row's memory block (estimated
    like the window plan, `_estimate`; 0 in the per-turn rows of a template that rewrites earlier turns)."""


@dataclass(frozen=True, slots=True)
class Window:
    """Turns `start..end-1` of a conversation; `labelled` are the owner turns that carry loss."""

    start: int
    end: int
    labelled: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class SequenceStats:
    """What the encoded training rows hold (all counts in tokens of the real rows)."""

    sequences: int
    tokens: int
    loss_tokens: int
    owner_turns: int
    labelled_turns: int
    truncated_turns: int

    @property
    def loss_token_share(self) -> float:
        return self.loss_tokens / self.tokens if self.tokens else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "sequences": self.sequences, "tokens": self.tokens, "loss_tokens": self.loss_tokens,
            "loss_token_share": round(self.loss_token_share, 4), "owner_turns": self.owner_turns,
            "labelled_turns": self.labelled_turns, "truncated_turns": self.truncated_turns,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SequenceStats:
        """As `as_dict` wrote them (`loss_token_share` is derived); a count missing reads as 0."""
        return cls(*(int(data.get(k) or 0) for k in ("sequences", "tokens", "loss_tokens", "owner_turns",
                                                      "labelled_turns", "truncated_turns")))


def plan_window(
    first: int, pending: Sequence[int], roles: Sequence[str], lengths: Sequence[int],
    header: int, max_length: int, context_turns: int,
) -> Window:
    """The window for owner turn `first` (the earliest not yet labelled), from estimated token
    lengths per turn (`header` = system text). Pure; see the module docstring for the rule."""
    start = max(0, first - context_turns)
    while start < first and header + sum(lengths[start:first + 1]) > max_length:
        start += 1
    end = first + 1
    while end < len(roles) and header + sum(lengths[start:end + 1]) <= max_length:
        end += 1
    while end - 1 > first and roles[end - 1] != "owner":
        end -= 1  # trailing partner turns carry no loss
    labelled = tuple(i for i in pending if first <= i < end)
    return Window(start, end, labelled)


def plan_memory_window(
    first: int, pending: Sequence[int], roles: Sequence[str], lengths: Sequence[int],
    header: Callable[[int], int], recollections: int, max_length: int, context_turns: int,
) -> tuple[int, Window]:
    """`plan_window` with memory in the head: how many of the oldest `recollections` the window
    drops, and the window. The fewest that let it hold its full context (`header(dropped)` = the
    head's tokens with that many dropped); all of them when even the turns alone do not fit."""
    full = max(0, first - context_turns)
    for dropped in range(recollections + 1):
        window = plan_window(first, pending, roles, lengths, header(dropped), max_length, context_turns)
        if window.start == full:
            break
    return dropped, window


def _estimate(tokenizer: Any, fmt: Any, dialogue: Dialogue) -> tuple[Callable[[int], int], list[int]]:
    """Head tokens (system text and memory, by how many of the oldest recollections are dropped)
    and per-turn tokens (text + a measured per-turn overhead); exactness is not needed here, the
    encoding checks every row."""
    from model.dialogue import Turn

    one = (Turn("partner", ("x",)),)
    heads: dict[int, int] = {}

    def header(dropped: int) -> int:
        if dropped not in heads:
            shown = replace(dialogue, turns=one, memory=dialogue.memory[dropped:])
            heads[dropped] = len(fmt.encode_prompt(tokenizer, shown))
        return heads[dropped]

    bare = replace(dialogue, memory=())
    two = len(fmt.encode_prompt(tokenizer, replace(bare, turns=(*one, Turn("owner", ("x",)), *one))))
    overhead = max(1, (two - len(fmt.encode_prompt(tokenizer, replace(bare, turns=one)))) // 2)
    lengths = [len(tokenizer.encode(t.text, add_special_tokens=False)) + overhead for t in dialogue.turns]
    return header, lengths


def conversation_rows(
    tokenizer: Any, fmt: Any, conversation: Conversation, max_length: int, context_turns: int
) -> list[tuple[Row, tuple[int, ...], int]]:
    """One conversation → rows, each with the owner turns it labels (every owner turn once) and the
    tokens of its memory block."""
    dialogue = conversation.dialogue
    roles = [t.role for t in dialogue.turns]
    pending = [i for i, role in enumerate(roles) if role == "owner"]
    if not pending:
        return []
    header, lengths = _estimate(tokenizer, fmt, dialogue)
    recollections = len(dialogue.memory) if fmt.memory else 0
    out = []
    while pending:
        first = pending[0]
        dropped, window = plan_memory_window(first, pending, roles, lengths, header, recollections, max_length,
                                             context_turns)
        shown = replace(dialogue, memory=dialogue.memory[dropped:])
        row, covered = _encode_window(tokenizer, fmt, shown, window, max_length)
        block = header(dropped) - header(recollections)
        if first not in covered:  # even the planned context did not fit: answer without context or memory
            window = Window(first, first + 1, (first,))
            row, covered = _encode_window(tokenizer, fmt, replace(dialogue, memory=()), window, max_length)
            block = 0
        if first not in covered:
            raise PromptFormatError(f"turn {first} cannot be encoded within max_length {max_length}")
        out.append((row, covered, block))
        done = set(covered)
        pending = [i for i in pending if i not in done]
    return out


def memory_drills(
    tokenizer: Any, fmt: Any, conversations: Sequence[Conversation], max_length: int, context_turns: int, passes: int
) -> list[TrainingSequence]:
    """Short extra rows for the owner turns that use their conversation's memory
    (`Conversation.memory_used`): `passes` rows each, pass by pass. A drill is the turn's serve-time
    prompt (the memory, up to `context_turns` turns before it) and the turn, loss on it alone: what
    the conversation's own row teaches about reading the memory, without the rest of the session.
    Such turns are a few percent of a history and one pass over them does not teach a small model
    to copy a name from the block (issue 20's bench); the run's order brings the drills forward
    (`training.data.curriculum`). None for a format without memory."""
    if not fmt.memory or passes < 1:
        return []
    drills: list[TrainingSequence] = []
    for index, conversation in enumerate(conversations):
        dialogue = conversation.dialogue
        if not conversation.memory_used or not dialogue.memory:
            continue
        roles = [t.role for t in dialogue.turns]
        header, lengths = _estimate(tokenizer, fmt, dialogue)
        for turn in conversation.memory_used:
            dropped, planned = plan_memory_window(turn, [turn], roles, lengths, header, len(dialogue.memory),
                                                  max_length, context_turns)
            row, covered = _encode_window(tokenizer, fmt, replace(dialogue, memory=dialogue.memory[dropped:]),
                                          Window(planned.start, turn + 1, (turn,)), max_length)
            if covered == (turn,):
                drills.append(TrainingSequence(row, index, covered, 1, len(row["input_ids"])))
    return [replace(d, drill=k) for k in range(1, passes + 1) for d in drills]


def _encode_window(tokenizer: Any, fmt: Any, dialogue: Dialogue, window: Window, max_length: int) -> tuple[Row, tuple[int, ...]]:
    shown = replace(dialogue, turns=dialogue.turns[window.start:window.end])
    row, covered = fmt.encode_conversation(tokenizer, shown, [i - window.start for i in window.labelled], max_length)
    return row, tuple(i + window.start for i in covered)


def encode_conversations(
    tokenizer: Any, fmt: Any, conversations: Sequence[Conversation], max_length: int, context_turns: int
) -> tuple[list[Row], SequenceStats]:
    """All training conversations → token rows (`input_ids`, `labels`) and their statistics."""
    sequences, stats = encode_sequences(tokenizer, fmt, conversations, max_length, context_turns)
    return [s.row for s in sequences], stats


def encode_sequences(
    tokenizer: Any, fmt: Any, conversations: Sequence[Conversation], max_length: int, context_turns: int
) -> tuple[list[TrainingSequence], SequenceStats]:
    """`encode_conversations` with each row's source: its conversation and labelled owner turns.

    A template that rewrites earlier turns (no text prefix) falls back to one row per owner turn
    for that conversation (`PromptFormat.encode_example`), which is always exact."""
    sequences: list[TrainingSequence] = []
    owner_turns = labelled = truncated = 0
    for index, conversation in enumerate(conversations):
        turns = conversation.dialogue.turns
        owner_turns += sum(t.role == "owner" for t in turns)
        try:
            encoded = conversation_rows(tokenizer, fmt, conversation, max_length, context_turns)
        except PromptFormatError:
            encoded = _per_turn_rows(tokenizer, fmt, conversation, max_length, context_turns)
        for row, covered, block in encoded:
            if not any(label != IGNORE_INDEX for label in row["labels"]):
                continue
            sequences.append(TrainingSequence({"input_ids": row["input_ids"], "labels": row["labels"]}, index, covered,
                                              memory_tokens=block))
            labelled += len(covered)
            truncated += len(row["input_ids"]) >= max_length and row["labels"][-1] != IGNORE_INDEX
    tokens = sum(len(s.row["input_ids"]) for s in sequences)
    loss = sum(sum(label != IGNORE_INDEX for label in s.row["labels"]) for s in sequences)
    return sequences, SequenceStats(len(sequences), tokens, loss, owner_turns, labelled, int(truncated))


def _per_turn_rows(
    tokenizer: Any, fmt: Any, conversation: Conversation, max_length: int, context_turns: int
) -> list[tuple[Row, tuple[int, ...], int]]:
    dialogue = conversation.dialogue
    out = []
    for i, turn in enumerate(dialogue.turns):
        if turn.role != "owner" or i == 0:
            continue
        shown = replace(dialogue, turns=dialogue.turns[max(0, i - context_turns):i])
        try:
            row = fmt.encode_example(tokenizer, shown, turn.text, max_length=max_length)
        except PromptFormatError:
            continue
        out.append((row, (i,), 0))  # memory not counted: see TrainingSequence.memory_tokens
    return out
