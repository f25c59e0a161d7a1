"""Continual training: where a run starts, what it trains (every process), and what it learned.

- `plan_start` (main process, before training): a run continues the adapter of the newest run
  since the last promotion or rollback, else the served adapter, when it was trained on the same
  base model, with the same prompt format (memory included: an adapter trained without a memory
  block is not continued by a run with memory, nor the other way round) and the same LoRA shape;
  otherwise, or when `fresh` is set, it starts from the base model. Runs the gate kept back still
  count: the chain accumulates until one beats what is served, and a promotion or rollback by the
  owner restarts it there.
- `train_adapter` (every process): load the base, encode, order the sequences
  (`training.data.curriculum`: new turns first, newest conversations first, replays mixed in) and fit,
  continuing the chosen adapter.
- `run_learning` / `record_learning` (main process, after training): which turns the run trained
  on (only what it consumed before its budget ran out) and the coverage that leaves; stored with
  the adapter in the same transaction, so a failed run leaves no record.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from settings import Settings
from storage import Database
from storage import coverage as coverage_queries
from storage import training as training_queries
from storage.coverage import LearnedTurn
from storage.db import make_private_dir
from storage.training import Adapter
from training.config import PresetError, TrainConfig, load_preset
from training.data.coverage import Coverage, Learned, Throughput, adapter_learned, coverage_of, owner_turn_keys
from training.data.curriculum import PlannedSequence, consumed, learned_turns, plan_sequences, training_order
from training.data.dataset import BuiltDataset
from training.data.sequences import SequenceStats, encode_sequences, memory_drills
from training.errors import NoTrainingData
from training.fitting import distributed
from training.fitting.fit import FitResult, checkpoint_dir, fit

log = logging.getLogger(__name__)
LORA_SHAPE = ("lora_r", "lora_alpha", "target_modules", "lora_last_layers")
"""Preset fields an adapter must share with the run's preset to be continued."""


@dataclass(frozen=True, slots=True)
class ContinualStart:
    """Where a run starts: the adapter it continues (None: the base model), why, and what that
    adapter has learned."""

    adapter_id: str | None
    path: Path | None
    reason: str
    promotion_id: int | None
    """The newest promotion when the run was planned (which chain the run extends)."""
    learned: Learned = field(default_factory=Learned)

    @classmethod
    def base(cls, reason: str, promotion_id: int | None = None) -> ContinualStart:
        return cls(None, None, reason, promotion_id)


async def plan_start(db: Database, settings: Settings, config: TrainConfig, base_spec: str) -> ContinualStart:
    """Choose what the run continues (see the module docstring)."""
    promotion_id = await coverage_queries.latest_promotion_id(db)
    if config.fresh:
        return ContinualStart.base("fresh start asked for (train --fresh, TGTWIN_TRAIN_FRESH or the preset)",
                                   promotion_id)
    candidates: list[str] = []
    head = await coverage_queries.chain_head(db, promotion_id)
    if head is not None:
        candidates.append(head.adapter_id)
    served = await training_queries.promoted_adapter(db)
    if served is not None and served.id not in candidates:
        candidates.append(served.id)
    if not candidates:
        return ContinualStart.base("no adapter to continue yet", promotion_id)
    fmt = await asyncio.to_thread(_prompt_format, base_spec, settings)
    refused = []
    for adapter_id in candidates:
        adapter = await training_queries.get_adapter(db, adapter_id)
        mismatch = continuation_mismatch(adapter, base_spec, fmt, config)
        if mismatch is None:
            newest = head is not None and head.adapter_id == adapter_id
            why = "the newest adapter since the last promotion" if newest else "the served adapter"
            return ContinualStart(adapter_id, Path(adapter.path), f"continues {why} {adapter_id}", promotion_id,
                                  await adapter_learned(db, adapter_id))
        refused.append(f"{adapter_id}: {mismatch}")
    return ContinualStart.base("starts from the base model (" + "; ".join(refused) + ")", promotion_id)


def _prompt_format(base_spec: str, settings: Settings) -> Any:
    from model.prompt import PromptFormat
    from training.data.statistics import load_tokenizer

    return PromptFormat.for_training(load_tokenizer(base_spec, settings.models_dir), memory=settings.memory_enabled)


def continuation_mismatch(adapter: Adapter, base_spec: str, fmt: Any, config: TrainConfig) -> str | None:
    """Why `adapter` cannot be continued by a run of `config` on `base_spec` with prompt format
    `fmt`, or None when it can."""
    from model.prompt import PromptFormat, PromptFormatError

    path = Path(adapter.path)
    if adapter.base_model != base_spec:
        return f"trained on base {adapter.base_model}, not {base_spec}"
    if not (path / "adapter_config.json").is_file():
        return "its directory is missing"
    try:
        saved = PromptFormat.load(path)
    except (OSError, PromptFormatError) as exc:
        return f"its prompt format cannot be read ({exc})"
    if saved.memory != fmt.memory:
        trained_with, run_has = ("with", "has no") if saved.memory else ("without", "has")
        return f"it was trained {trained_with} memory and this run {run_has} memory (memory_enabled changed)"
    if saved != fmt:
        return "its prompt format differs from this base model's now"
    try:
        trained = json.loads((path / "meta.json").read_text(encoding="utf-8")).get("config") or {}
    except (OSError, ValueError):
        return "its meta.json cannot be read"
    wanted = config.as_dict()
    differs = [name for name in LORA_SHAPE if trained.get(name) != wanted[name]]
    return f"its LoRA shape differs ({', '.join(differs)})" if differs else None


@dataclass(frozen=True, slots=True)
class TrainedAdapter:
    """What `train_adapter` hands to evaluation: the peft model and how it was trained."""

    model: Any
    tokenizer: Any
    fmt: Any
    rows: list[dict[str, list[int]]]
    fit: FitResult
    sequences: SequenceStats
    order: list[PlannedSequence]
    """The run's sequences in the order trained (`rows` is their rows)."""


def train_adapter(
    settings: Settings,
    config: TrainConfig,
    base_spec: str,
    dataset: BuiltDataset,
    start: ContinualStart,
    on_step: Callable[[int, int, float | None], None] | None,
) -> TrainedAdapter:
    """The training part, run by every process (in a thread): load the base, encode, order, fit."""
    from model.prompt import PromptFormat
    from model.sources import load_base

    model, tokenizer = load_base(base_spec, settings.models_dir, quantization=config.quantization, for_training=True,
                                 local_rank=distributed.current_rank().local_rank,
                                 sharded=distributed.shards_parameters())
    fmt = PromptFormat.for_training(tokenizer, memory=settings.memory_enabled)
    sequences, stats = encode_sequences(tokenizer, fmt, dataset.conversations, config.max_length,
                                        settings.context_turns)
    if not sequences:
        raise NoTrainingData("every training example was empty after tokenisation")
    drills = memory_drills(tokenizer, fmt, dataset.conversations, config.max_length, settings.context_turns,
                           config.memory_drills)
    planned = plan_sequences([*sequences, *drills], dataset.conversations, start.learned)
    order = training_order(planned, dataset.conversations, start.learned, config.replay_share, config.batch_size,
                           config.memory_share)
    rows = [p.sequence.row for p in order]
    log.info("%s: %s new and %s replay sequences (%s teach memory, %s of them drills)", start.reason,
             sum(not p.replay for p in order), sum(p.replay for p in order), sum(p.teaches_memory for p in order),
             len(drills))
    checkpoints = checkpoint_dir(settings, config, base_spec, rows, start.adapter_id)
    make_private_dir(checkpoints.parent)  # checkpoints hold what the owner wrote: 0700, like the data dir
    peft_model, fit_result = fit(model, tokenizer, rows, config, checkpoints, on_step, ordered=True, adapter=start.path,
                                 memory_tokens=[p.sequence.memory_tokens for p in order])
    return TrainedAdapter(peft_model, tokenizer, fmt, rows, fit_result, stats, order)


@dataclass(frozen=True, slots=True)
class RunLearning:
    """What one run learned and the coverage its adapter has (the run report keeps it as
    `training.runs.report.ContinualSummary`)."""

    start: ContinualStart
    learned: list[LearnedTurn]
    coverage: Coverage
    sequences_planned: int
    sequences_trained: int
    tokens_per_turn: float
    """Training tokens per labelled owner turn in this run's encoding (for the estimate)."""


def run_learning(
    run_id: int, adapter_id: str, start: ContinualStart, trained: TrainedAdapter, dataset: BuiltDataset,
    settings: Settings, config: TrainConfig,
) -> RunLearning:
    """What run `run_id` (making `adapter_id`) trained on: the sequences its steps consumed. Its
    coverage's estimate uses this run's throughput and the default preset's budget (this run's
    preset when the default cannot be read)."""
    try:
        default = load_preset(settings.training_preset)
    except PresetError:
        default = config
    trained_on = consumed(trained.order, trained.fit.steps, trained.fit.sequences_per_step)
    learned = learned_turns(trained_on, start.learned, run_id)
    stats = trained.sequences
    per_turn = stats.tokens / stats.labelled_turns if stats.labelled_turns else 0.0
    throughput = Throughput(per_turn, trained.fit.tokens_per_second, default.time_budget_minutes, default.replay_share)
    coverage = coverage_of(owner_turn_keys(dataset.conversations), start.learned.with_run(run_id, learned), adapter_id,
                           throughput)
    return RunLearning(start, learned, coverage, len(trained.order), len(trained_on), per_turn)


async def record_learning(db: Database, run_id: int, learning: RunLearning) -> None:
    """Store what the run continued from and learned (call inside the transaction that adds its adapter)."""
    start = learning.start
    await coverage_queries.record_run(db, run_id, start.adapter_id, start.promotion_id, learning.learned)
