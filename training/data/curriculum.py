"""The order a run trains its sequences in, and what a run that stopped after N steps has learned.

Pure functions. A sequence is *new* when one of the owner turns it labels has not been learned by
the adapter the run continues from (`training.data.coverage.Learned`), else it is a *replay*. The order:

1. new sequences, newest conversations first (the owner's current style comes first), except that
   the memory drills (short rows for the replies that use the recalled exchanges,
   `training.data.sequences.memory_drills`) come at `memory_share` of the mix from the front, pass
   by pass, until they run out; replays mixed in evenly at `replay_share` of the mix (least often,
   then least recently learned first);
2. then the remaining replays, in the same order (a run with budget to spare refreshes old turns).

Runs train in this order without shuffling (`fit(..., ordered=True)`), so a run cut by its budget
has consumed exactly the first `steps x sequences_per_step` sequences, and the rest waits for the
next run: every owner turn is learned once before any is learned twice, apart from the replay share.
For less padding, the sequences of each chunk of `GROUP_BATCHES` batches are batched by length, and
the batches keep the order of their earliest sequence (a sequence can move up or down within its
chunk, never out of it; sorting the chunk itself would let a run cut mid-chunk take the longest
sequences rather than the first).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from storage.coverage import LearnedTurn, TurnKey
from training.data.coverage import Learned, turn_key
from training.data.sequences import Conversation, TrainingSequence

GROUP_BATCHES = 16
"""Batches' worth of sequences batched by length together (less padding vs. keeping the order)."""


@dataclass(frozen=True, slots=True)
class PlannedSequence:
    """A sequence in the run's order, the owner turns it teaches and whether it is a replay."""

    sequence: TrainingSequence
    turns: tuple[TurnKey | None, ...]
    """Keys of the turns it labels (None for a turn not read from storage)."""
    replay: bool
    """Every turn it labels was learned already."""
    teaches_memory: bool = False
    """It labels a reply that uses its memory (`Conversation.memory_used`)."""

    @property
    def length(self) -> int:
        return len(self.sequence.row["input_ids"])


def plan_sequences(
    sequences: Sequence[TrainingSequence], conversations: Sequence[Conversation], learned: Learned
) -> list[PlannedSequence]:
    """Key every sequence's labelled turns and mark it new or replay (in the encoded order)."""
    out = []
    for s in sequences:
        conversation = conversations[s.conversation]
        turns = tuple(turn_key(conversation.chat_id, conversation.dialogue.turns[i]) for i in s.labelled)
        out.append(PlannedSequence(s, turns, bool(turns) and all(learned.knows(k) for k in turns),
                                   any(i in conversation.memory_used for i in s.labelled)))
    return out


def training_order(
    planned: Sequence[PlannedSequence], conversations: Sequence[Conversation], learned: Learned,
    replay_share: float, batch_size: int, memory_share: float = 0.0,
) -> list[PlannedSequence]:
    """The run's order (see the module docstring); `batch_size`: sequences per (micro-)batch."""
    def started(p: PlannedSequence) -> int:
        turns = conversations[p.sequence.conversation].dialogue.turns
        return turns[0].date if turns else 0

    def staleness(p: PlannedSequence) -> tuple[int, int, int]:
        times, newest = max((learned.runs.get(k, (0, 0)) for k in p.turns if k is not None), default=(0, 0))
        return times, newest, -started(p)

    # Stable sorts: windows of one conversation keep their order.
    new = front_load(sorted((p for p in planned if not p.replay), key=lambda p: (-started(p), p.sequence.conversation)),
                     memory_share)
    replays = sorted((p for p in planned if p.replay), key=staleness)
    mixed = min(len(replays), round(len(new) * replay_share / (1 - replay_share))) if new else 0
    # Grouped apart, so no replay of the tail ever comes before a new sequence.
    return (batch_by_length(interleave(new, replays[:mixed]), batch_size)
            + batch_by_length(replays[mixed:], batch_size))


def front_load(new: Sequence[PlannedSequence], share: float) -> list[PlannedSequence]:
    """`new` (in order) with its memory drills at `share` of the mix from the front (first passes
    first), the others in their order around them, until the drills run out (`share` 0: as is)."""
    teaching = sorted((p for p in new if p.sequence.drill), key=lambda p: p.sequence.drill)
    if share <= 0 or not teaching:
        return list(new)
    rest = [p for p in new if not p.sequence.drill]
    mixed = round(len(teaching) * (1 - share) / share)
    return interleave(rest[:mixed], teaching) + rest[mixed:]


def interleave(new: Sequence[PlannedSequence], replays: Sequence[PlannedSequence]) -> list[PlannedSequence]:
    """`replays` spread evenly among `new` (the first slot is new when there are any)."""
    total = len(new) + len(replays)
    out: list[PlannedSequence] = []
    n = r = 0
    for slot in range(total):
        if r < len(replays) and (n >= len(new) or (slot + 1) * len(replays) // total > r):
            out.append(replays[r])
            r += 1
        else:
            out.append(new[n])
            n += 1
    return out


def batch_by_length(order: Sequence[PlannedSequence], batch_size: int) -> list[PlannedSequence]:
    """Inside each chunk of `GROUP_BATCHES` batches: batches of similar length (longest first),
    put in the order of their earliest sequence."""
    batch_size = max(1, batch_size)
    chunk = batch_size * GROUP_BATCHES
    out: list[PlannedSequence] = []
    for start in range(0, len(order), chunk):
        positions = sorted(range(start, min(start + chunk, len(order))), key=lambda i: -order[i].length)
        batches = [positions[i:i + batch_size] for i in range(0, len(positions), batch_size)]
        for batch in sorted(batches, key=min):
            out.extend(order[i] for i in sorted(batch))
    return out


def consumed(order: Sequence[PlannedSequence], steps: int, per_step: int) -> list[PlannedSequence]:
    """The sequences a run in `order` has trained on after `steps` optimizer steps (all of them once
    the steps went past the end: a second epoch only repeats)."""
    return list(order[:max(0, steps * per_step)])


def learned_turns(trained: Sequence[PlannedSequence], learned: Learned, run_id: int) -> list[LearnedTurn]:
    """What run `run_id` learned from the sequences it trained on (each turn once), a turn marked a
    replay when the adapter it continued from knew it already."""
    seen: dict[TurnKey, LearnedTurn] = {}
    for p in trained:
        for key in p.turns:
            if key is not None and key not in seen:
                seen[key] = LearnedTurn(run_id, key, learned.knows(key))
    return list(seen.values())
