"""Coverage: how much of the owner's training history an adapter has learned, and what is left.

An adapter's learning is what its own run and the runs it continued from learned (its lineage,
`storage.coverage`). Against the data as it is now: an owner turn counts as learned when a run of
the lineage learned it with the same text (an edited turn counts as not learned again; a deleted
one is no longer counted at all; new ones are not learned yet). Held-out turns never train and are
not counted.

`Coverage` is the typed figure `dataset --json`, `status --json`, `eval --json`, the run report and
the panel's Training tab show; `FullPassEstimate` turns the rest into runs and hours at the
throughput the adapter's run measured. The pure parts take plain values; the async readers at the
bottom go through `storage`.
"""

from __future__ import annotations

import hashlib
import math
import time
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from model.dialogue import Turn
from storage import Database
from storage import coverage as coverage_queries
from storage import training as training_queries
from storage.coverage import LearnedTurn, TurnKey
from training.data.sequences import Conversation

# `status` is read every few seconds by the dashboard and building the dataset costs ~1 s per
# 10,000 owner messages, so coverage is recomputed only when its inputs changed or it is this old.
COVERAGE_MAX_AGE_SECONDS = 60.0


def text_hash(text: str) -> str:
    """The hash a learned turn is stored with (16 hex digits of SHA-256 of the text as trained)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def turn_key(chat_id: int, turn: Turn) -> TurnKey | None:
    """A stored owner turn's key; None for a turn not read from storage (it cannot be tracked)."""
    if turn.message_id is None:
        return None
    return TurnKey(chat_id, turn.message_id, text_hash(turn.text))


def owner_turn_keys(conversations: Iterable[Conversation]) -> list[TurnKey]:
    """The keys of every owner turn the training conversations hold (each once)."""
    keys = (turn_key(c.chat_id, t) for c in conversations for t in c.dialogue.turns if t.role == "owner")
    return list(dict.fromkeys(k for k in keys if k is not None))


@dataclass(frozen=True, slots=True)
class Learned:
    """What one adapter's lineage learned: for each turn key (text included), how many runs learned
    it and the newest of them; and what its own run learned and replayed."""

    runs: Mapping[TurnKey, tuple[int, int]] = field(default_factory=dict)
    """Turn → (runs that learned it, the newest such run id)."""
    last_run: int | None = None
    """The adapter's own run (None: the base model, nothing learned)."""
    last_run_turns: frozenset[TurnKey] = frozenset()
    last_run_replayed: frozenset[TurnKey] = frozenset()

    @classmethod
    def from_records(cls, records: Iterable[LearnedTurn], last_run: int | None) -> Learned:
        runs: dict[TurnKey, tuple[int, int]] = {}
        own, replayed = set(), set()
        for record in records:
            times, newest = runs.get(record.turn, (0, 0))
            runs[record.turn] = (times + 1, max(newest, record.run_id))
            if record.run_id == last_run:
                own.add(record.turn)
                if record.replay:
                    replayed.add(record.turn)
        return cls(runs, last_run, frozenset(own), frozenset(replayed))

    def knows(self, key: TurnKey | None) -> bool:
        return key is not None and key in self.runs

    def with_run(self, run_id: int, records: Sequence[LearnedTurn]) -> Learned:
        """This learning plus what run `run_id` (continuing from it) learned."""
        runs = dict(self.runs)
        for record in records:
            times, _ = runs.get(record.turn, (0, 0))
            runs[record.turn] = (times + 1, run_id)
        return Learned(runs, run_id, frozenset(r.turn for r in records),
                       frozenset(r.turn for r in records if r.replay))


@dataclass(frozen=True, slots=True)
class FullPassEstimate:
    """What learning the rest once would take, at the throughput the adapter's run measured."""

    remaining_turns: int
    tokens: int
    """Training tokens of the remaining turns (their share of the measured tokens per turn)."""
    tokens_per_second: float
    """Measured by the adapter's own run (real tokens trained per second)."""
    hours: float
    """Training hours at that rate, with the replay share on top (evaluation not included)."""
    runs: int | None
    """Runs of the default preset's time budget it takes (None: that preset has no time budget)."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FullPassEstimate:
        runs = data.get("runs")
        return cls(int(data.get("remaining_turns") or 0), int(data.get("tokens") or 0),
                   float(data.get("tokens_per_second") or 0.0), float(data.get("hours") or 0.0),
                   int(runs) if runs is not None else None)


@dataclass(frozen=True, slots=True)
class Coverage:
    """How much of the training split an adapter has learned (see the module docstring)."""

    adapter_id: str | None
    """The adapter counted: the one the next run continues (`training_head`, before the checks of
    base model and prompt format), or for a run's report its new adapter; None: the base model."""
    owner_turns: int
    """Owner turns in the training split now."""
    learned: int
    """Of them, learned at least once by the adapter's lineage (with their text as it is now)."""
    learned_last_run: int
    """Of them, learned by the adapter's own run (first time or replayed)."""
    replayed_last_run: int
    """Of those, learned before by the lineage (the run's replay share)."""
    estimate: FullPassEstimate | None = None
    """None when the rest is empty or nothing was measured yet."""
    share: float = field(init=False)
    """`learned / owner_turns`: learned at least once."""
    last_run_share: float = field(init=False)
    """`learned_last_run / owner_turns`."""
    replayed_share: float = field(init=False)
    """`replayed_last_run / owner_turns`."""

    def __post_init__(self) -> None:
        total = self.owner_turns or 1  # no turns: every share is 0
        for name, count in (("share", self.learned), ("last_run_share", self.learned_last_run),
                            ("replayed_share", self.replayed_last_run)):
            object.__setattr__(self, name, round(count / total, 4))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Coverage:
        """As `as_dict` wrote it (the shares are derived again from the counts)."""
        estimate = data.get("estimate")
        counts = (int(data.get(k) or 0) for k in ("owner_turns", "learned", "learned_last_run", "replayed_last_run"))
        return cls(data.get("adapter_id"), *counts,
                   FullPassEstimate.from_json(estimate) if isinstance(estimate, dict) else None)

    def summary(self) -> str:
        """One line for people (the CLI, the panel)."""
        line = (f"{self.share:.0%} of {self.owner_turns} owner turns learned at least once; the last run learned "
                f"{self.learned_last_run} ({self.replayed_last_run} of them replayed)")
        e = self.estimate
        if e is not None:
            runs = f"~{e.runs} default runs, " if e.runs is not None else ""
            line += f"; a full pass needs {runs}~{e.hours:.1f} h of training more ({e.tokens_per_second:.0f} tokens/s)"
        return line


def coverage_of(
    keys: Sequence[TurnKey], learned: Learned, adapter_id: str | None, throughput: Throughput | None = None
) -> Coverage:
    """Coverage of the training turns `keys` by `learned`; with `throughput`, the estimate for the rest."""
    known = sum(1 for k in keys if k in learned.runs)
    own = sum(1 for k in keys if k in learned.last_run_turns)
    replayed = sum(1 for k in keys if k in learned.last_run_replayed)
    remaining = len(keys) - known
    estimate = throughput.estimate(remaining) if throughput is not None and remaining else None
    return Coverage(adapter_id, len(keys), known, own, replayed, estimate)


@dataclass(frozen=True, slots=True)
class Throughput:
    """What a run measured, for estimating the rest: tokens per learned turn and tokens per second,
    with the default preset's budget and replay share."""

    tokens_per_turn: float
    tokens_per_second: float
    budget_minutes: float | None
    replay_share: float

    def estimate(self, remaining_turns: int) -> FullPassEstimate | None:
        if self.tokens_per_second <= 0 or self.tokens_per_turn <= 0:
            return None
        tokens = round(remaining_turns * self.tokens_per_turn)
        seconds = tokens / self.tokens_per_second / (1 - self.replay_share)
        runs = math.ceil(seconds / (self.budget_minutes * 60)) if self.budget_minutes else None
        return FullPassEstimate(remaining_turns, tokens, round(self.tokens_per_second, 1), round(seconds / 3600, 2), runs)


# --------------------------------------------------------------------------- readers

async def adapter_learned(db: Database, adapter_id: str | None) -> Learned:
    """What `adapter_id` and the adapters it continued from learned (empty for the base model)."""
    if adapter_id is None:
        return Learned()
    runs = await coverage_queries.lineage_runs(db, adapter_id)
    if not runs:
        return Learned()
    return Learned.from_records(await coverage_queries.learned_by(db, runs), runs[0])


async def training_head(db: Database) -> str | None:
    """The adapter the next run continues from, before compatibility checks: the newest adapter
    trained since the last promotion or rollback, else the served one (None: the base model)."""
    head = await coverage_queries.chain_head(db, await coverage_queries.latest_promotion_id(db))
    if head is not None:
        return head.adapter_id
    served = await training_queries.promoted_adapter(db)
    return served.id if served else None


async def run_throughput(db: Database, adapter_id: str | None, settings: Any) -> Throughput | None:
    """The throughput `adapter_id`'s own run measured, with the default preset's budget and replay share."""
    from training.config import PresetError, load_preset
    from training.runs.report import stored_report  # the report reads `Coverage`: imported here, not at the top

    if adapter_id is None:
        return None
    adapter = await training_queries.get_adapter(db, adapter_id)
    run = await training_queries.get_run(db, adapter.run_id) if adapter.run_id is not None else None
    report = stored_report(run.report) if run else None
    learning, fit = (report.coverage, report.fit) if report else (None, None)
    if not learning or not fit or not learning.tokens_per_turn or not fit.tokens_per_second:
        return None
    try:
        preset = load_preset(settings.training_preset)
    except PresetError:  # a bad preset setting fails the next run loudly; the counts still hold here
        return None
    return Throughput(learning.tokens_per_turn, fit.tokens_per_second, preset.time_budget_minutes,
                      preset.replay_share)


async def current_coverage(db: Database, settings: Any, conversations: Sequence[Conversation] | None = None) -> Coverage:
    """The training head's coverage of the data as it is now (`conversations`: the training split's,
    when the caller has built the dataset already)."""
    from storage import NotFound
    from training.data.dataset import load_dataset

    if conversations is None:
        conversations = (await load_dataset(db, settings, with_memory=False)).conversations  # keys only
    adapter_id = await training_head(db)
    try:
        throughput = await run_throughput(db, adapter_id, settings)
    except NotFound:  # the run row of an adapter is gone: no measurement, the counts still hold
        throughput = None
    return coverage_of(owner_turn_keys(conversations), await adapter_learned(db, adapter_id), adapter_id, throughput)


@dataclass(frozen=True, slots=True)
class _Cached:
    version: tuple[int, ...]
    at: float
    coverage: Coverage


_cache: weakref.WeakKeyDictionary[Database, _Cached] = weakref.WeakKeyDictionary()


async def cached_coverage(db: Database, settings: Any) -> Coverage:
    """`current_coverage`, recomputed only when its inputs changed (`storage.coverage.version`) or
    the figure is `COVERAGE_MAX_AGE_SECONDS` old (for the status the dashboard polls)."""
    version = await coverage_queries.version(db)
    cached = _cache.get(db)
    if cached and cached.version == version and time.monotonic() - cached.at < COVERAGE_MAX_AGE_SECONDS:
        return cached.coverage
    coverage = await current_coverage(db, settings)
    _cache[db] = _Cached(version, time.monotonic(), coverage)
    return coverage
