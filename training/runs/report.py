"""The typed run report: what a run measured and decided, stored in the run row (`runs.report`),
kept in short in the adapter row (`adapters.metrics`), summarised into the adapter's `meta.json`,
and printed by `tgtwin eval [--json]`.

Frozen dataclasses with `to_json`/`from_json`. `RunReport.from_json` (through `stored_report`) and
`AdapterMetrics.from_json` are the only readers of the stored JSON; everything else reads the typed
values (tests/test_typed_reads.py keeps it so). Each section reads and writes its own keys: the
evaluation (`training.evaluation.report`), the run's summaries here, and the types other modules produce
(`TrainConfig`, `DatasetStats`, `SequenceStats`, `PreferenceStageResult`, `Coverage`,
`PromotionDecision`).

The JSON keeps the keys the REST API, `eval --json` and older records use
(`evaluation.perplexity.{base,promoted,new}`, `evaluation.style.{metric: {generated, real, gap}}`,
`promotion.{promote, reason}`), and a record from an older version still loads: a missing section
reads as None, a missing figure as its default or None.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, TypeVar

from training.config import TrainConfig
from training.data.coverage import Coverage
from training.data.dataset import DatasetStats
from training.data.sequences import SequenceStats
from training.evaluation.report import EvaluationReport, Json, PerModel, json_figure, json_section
from training.fitting.preference import PreferenceStageResult
from training.runs.promotion import PromotionDecision

if TYPE_CHECKING:
    from training.fitting.fit import FitResult
    from training.runs.continual import RunLearning

T = TypeVar("T")
SKIPPED = "skipped"
"""The one key of a skipped run's report (`skip_note`): why the schedule did not train."""


@dataclass(frozen=True, slots=True)
class FitSummary:
    """What the training steps measured (`training.fitting.fit.FitResult`), as the report keeps it."""

    steps: int
    seconds: float
    real_tokens: int = 0
    total_positions: int = 0
    real_token_share: float = 0.0
    tokens_per_second: float = 0.0
    """Real (non-padding) tokens trained on per second."""
    resumed_from: str | None = None
    """The checkpoint the run resumed from (None: it started afresh)."""
    final_loss: float | None = None
    stopped_by_budget: bool = False
    """The time budget ended the run before its planned steps."""
    train_rows: int | None = None
    """Training sequences the run had (None in records from before it was kept)."""
    epochs_covered: float | None = None
    """Passes over them the steps made, every process together (None in records from before)."""

    @classmethod
    def of(cls, fit: FitResult, train_rows: int, world_size: int = 1) -> FitSummary:
        """Rounded as stored. Under torchrun each process trains its own shard, so the global batch
        is `world_size` times the local one."""
        epochs = fit.epochs_covered(train_rows) * world_size
        return cls(fit.steps, round(fit.seconds, 2), fit.real_tokens, fit.total_positions,
                   round(fit.real_token_share, 4), round(fit.tokens_per_second, 1), fit.resumed_from,
                   fit.loss_curve[-1][1] if fit.loss_curve else None, fit.stopped_by_budget, train_rows,
                   round(epochs, 3))

    def to_json(self) -> Json:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Json) -> FitSummary:
        rows = data.get("train_rows")
        return cls(int(data.get("steps") or 0), json_figure(data.get("seconds")) or 0.0,
                   int(data.get("real_tokens") or 0), int(data.get("total_positions") or 0),
                   json_figure(data.get("real_token_share")) or 0.0, json_figure(data.get("tokens_per_second")) or 0.0,
                   data.get("resumed_from"), json_figure(data.get("final_loss")), bool(data.get("stopped_by_budget")),
                   int(rows) if rows is not None else None, json_figure(data.get("epochs_covered")))


@dataclass(frozen=True, slots=True)
class ContinualSummary:
    """What the run continued from and learned (`training.runs.continual.RunLearning`), and the coverage
    its adapter has; stored flat, the coverage's fields beside the others."""

    continued_from: str | None
    """The adapter the run continued (None: the base model)."""
    start: str
    """Why the run started there."""
    sequences_planned: int
    sequences_trained: int
    new_turns: int
    replayed_turns: int
    tokens_per_turn: float
    """Training tokens per labelled owner turn in this run's encoding."""
    coverage: Coverage

    @classmethod
    def of(cls, learning: RunLearning) -> ContinualSummary:
        replayed = sum(t.replay for t in learning.learned)
        return cls(learning.start.adapter_id, learning.start.reason, learning.sequences_planned,
                   learning.sequences_trained, len(learning.learned) - replayed, replayed,
                   round(learning.tokens_per_turn, 2), learning.coverage)

    def to_json(self) -> Json:
        return {"continued_from": self.continued_from, "start": self.start,
                "sequences_planned": self.sequences_planned, "sequences_trained": self.sequences_trained,
                "new_turns": self.new_turns, "replayed_turns": self.replayed_turns,
                "tokens_per_turn": self.tokens_per_turn, **self.coverage.as_dict()}

    @classmethod
    def from_json(cls, data: Json) -> ContinualSummary:
        counts = (int(data.get(k) or 0)
                  for k in ("sequences_planned", "sequences_trained", "new_turns", "replayed_turns"))
        return cls(data.get("continued_from"), str(data.get("start") or ""), *counts,
                   json_figure(data.get("tokens_per_turn")) or 0.0, Coverage.from_json(data))


@dataclass(frozen=True, slots=True)
class AdapterMetrics:
    """What the adapter row keeps of its run's report (`adapters.metrics`): the lists show it, and
    `eval` falls back on it for an adapter without a run row."""

    perplexity: PerModel = field(default_factory=PerModel)
    hits_at_1: PerModel = field(default_factory=PerModel)
    blind_judge_accuracy: float | None = None
    style_distance: float | None = None
    fit: FitSummary | None = None
    promoted: bool = False
    """The gate promoted it (not: it is served now)."""

    def to_json(self) -> Json:
        return {"perplexity": self.perplexity.to_json(), "hits_at_1": self.hits_at_1.to_json(),
                "blind_judge_accuracy": self.blind_judge_accuracy, "style_distance": self.style_distance,
                "fit": self.fit.to_json() if self.fit else {}, "promoted": self.promoted}

    @classmethod
    def from_json(cls, data: Json | None) -> AdapterMetrics:
        data = data or {}
        perplexity, fit = data.get("perplexity"), json_section(data, "fit")
        if not isinstance(perplexity, dict):  # older rows keep the new adapter's figure alone
            perplexity = {"new": perplexity}
        return cls(PerModel.from_json(perplexity),
                   PerModel.from_json(data.get("hits_at_1")), json_figure(data.get("blind_judge_accuracy")),
                   json_figure(data.get("style_distance")), FitSummary.from_json(fit) if fit else None,
                   bool(data.get("promoted")))


@dataclass(frozen=True, slots=True)
class RunReport:
    """Everything one training run reports; a section is None where a record from an older version
    (or a test) has none."""

    run_id: int
    adapter_base_model: str
    preset: TrainConfig | None
    """The preset the run trained with; None also for a record whose preset today's checks refuse
    (a record is shown, never rerun)."""
    data: DatasetStats | None
    fit: FitSummary | None
    evaluation: EvaluationReport
    promotion: PromotionDecision | None = None
    world_size: int | None = None
    """Processes that trained (torchrun/accelerate; only the main one evaluates and records);
    None in records from before it was recorded."""
    sequences: SequenceStats | None = None
    preference: PreferenceStageResult | None = None
    """The preference stage; None in records from before the stage existed."""
    coverage: ContinualSummary | None = None
    """What the run continued from and learned; None in records from before continual training."""

    def with_promotion(self, decision: PromotionDecision) -> RunReport:
        return replace(self, promotion=decision)

    def to_json(self) -> Json:
        return {
            "run_id": self.run_id, "adapter_base_model": self.adapter_base_model,
            "preset": self.preset.as_dict() if self.preset else {}, "data": self.data.as_dict() if self.data else {},
            "fit": self.fit.to_json() if self.fit else {}, "evaluation": self.evaluation.to_json(),
            "promotion": self.promotion.as_dict() if self.promotion else None,
            "world_size": self.world_size, "sequences": self.sequences.as_dict() if self.sequences else {},
            "preference": self.preference.as_dict() if self.preference else None,
            "coverage": self.coverage.to_json() if self.coverage else None,
        }

    @classmethod
    def from_json(cls, data: Json) -> RunReport:
        world_size = data.get("world_size")
        return cls(
            run_id=int(data.get("run_id") or 0), adapter_base_model=str(data.get("adapter_base_model") or ""),
            preset=_read(data, "preset", _preset), data=_read(data, "data", DatasetStats.from_json),
            fit=_read(data, "fit", FitSummary.from_json),
            evaluation=EvaluationReport.from_json(json_section(data, "evaluation")),
            promotion=_read(data, "promotion", PromotionDecision.from_json),
            world_size=world_size if type(world_size) is int and world_size > 0 else None,
            sequences=_read(data, "sequences", SequenceStats.from_json),
            preference=_read(data, "preference", PreferenceStageResult.from_json),
            coverage=_read(data, "coverage", ContinualSummary.from_json),
        )

    def cost(self) -> Json:
        """Evaluation seconds against training seconds and the preset's training budget (issue 19:
        evaluation may cost at most 30 % of the budget on the default preset)."""
        timing = self.evaluation.timing
        train = self.fit.seconds if self.fit else None
        budget = self.preset.time_budget_minutes if self.preset else None
        evaluation = timing.total if timing else None

        def share(of: float | None) -> float | None:
            return round(evaluation / of, 4) if evaluation is not None and of else None

        return {"train_seconds": train, "eval_seconds": evaluation, "eval_share_of_train": share(train),
                "train_budget_seconds": budget * 60 if budget else None,
                "eval_share_of_budget": share(budget * 60 if budget else None)}

    def adapter_metrics(self) -> AdapterMetrics:
        """What the adapter row stores (`adapters.metrics`)."""
        e = self.evaluation
        return AdapterMetrics(e.perplexity, e.hits_at_1, e.blind_judge_accuracy, e.style_distance, self.fit,
                              bool(self.promotion and self.promotion.promote))

    def meta(self, created_at: int) -> Json:
        """The adapter directory's `meta.json`."""
        return {
            "base_model": self.adapter_base_model, "preset": self.preset.name if self.preset else None,
            "config": self.preset.as_dict() if self.preset else {}, "run_id": self.run_id, "created_at": created_at,
            "data": self.data.as_dict() if self.data else {},
            "metrics": {**self.adapter_metrics().to_json(), "style": self.evaluation.style_json()},
            "promotion": self.promotion.as_dict() if self.promotion else None,
            "preference": self.preference.as_dict() if self.preference else None,
            "coverage": self.coverage.to_json() if self.coverage else None,
        }


def _read(data: Json, key: str, read: Callable[[Json], T]) -> T | None:
    """Section `key` of a stored report through its reader; None where the record has none."""
    section = json_section(data, key)
    return read(section) if section else None


def _preset(data: Json) -> TrainConfig | None:
    try:
        return TrainConfig.from_json(data)
    except (TypeError, ValueError):  # PresetError: checks added since the run refuse its values
        return None


def stored_report(data: Json | None) -> RunReport | None:
    """A run row's report (`TrainingRun.report`) as the typed value; None for a run without one
    (running, failed) or with only the schedule's note of why it was skipped (`skip_note`)."""
    if not data or SKIPPED in data:
        return None
    return RunReport.from_json(data)


def skip_note(reason: str) -> Json:
    """What a skipped run stores as its report: why the schedule did not train."""
    return {SKIPPED: reason}


def eval_json(adapter_id: str, run: RunReport | None, metrics: AdapterMetrics) -> Json:
    """`tgtwin eval --json`: one object for an adapter, from its run's report, or without one (its
    run row is gone, or has no report) the figures its adapter row kept. `world_size` is None where
    the report does not record it (an adapter without a run, a run from before it was recorded)."""
    evaluation = run.evaluation if run else EvaluationReport(0, 0, metrics.perplexity, metrics.hits_at_1)
    return {"adapter": adapter_id, **evaluation.summary(), "cost": run.cost() if run else None,
            "promotion": run.promotion.as_dict() if run and run.promotion else None,
            "preference": run.preference.as_dict() if run and run.preference else None,
            "world_size": run.world_size if run else None,
            "coverage": run.coverage.to_json() if run and run.coverage else None}
