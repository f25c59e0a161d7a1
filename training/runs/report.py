"""The typed run report: what a run measured and decided, stored in the run row (`runs.report`),
summarised into the adapter's `meta.json`, and printed by `main.py eval [--json]`.

Frozen dataclasses with `to_json`/`from_json`. The JSON keeps the keys the panel and older records
use (`evaluation.perplexity.{base,promoted,new}`, `evaluation.style.{metric: {generated, real, gap}}`,
`promotion.{promote, reason}`), so old run rows still load (missing new fields read as None).
The sections other modules own (`preset`, `data`, `fit`, `preference`) are stored as their own JSON
objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from training.evaluation.style import StyleReport, style_distance
from training.runs.promotion import PromotionDecision

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class PerModel:
    """One figure for the base model, the adapter served when the run started, and the new adapter."""

    base: float | None = None
    promoted: float | None = None
    new: float | None = None

    def to_json(self) -> Json:
        return {"base": self.base, "promoted": self.promoted, "new": self.new}

    @classmethod
    def from_json(cls, data: Json | None) -> PerModel:
        data = data or {}
        return cls(data.get("base"), data.get("promoted"), data.get("new"))


@dataclass(frozen=True, slots=True)
class GeneratedStyle:
    """How one model's generated replies compare with the owner's real ones."""

    label: str
    """`new adapter`, `adapter <id>` or `base model`."""
    blind_judge_accuracy: float | None
    style: StyleReport | None

    @property
    def style_distance(self) -> float | None:
        return self.style.style_distance if self.style is not None else None

    def to_json(self) -> Json:
        return {"label": self.label, "blind_judge_accuracy": self.blind_judge_accuracy,
                "style_distance": self.style_distance, "style": self.style.to_json() if self.style else {}}

    @classmethod
    def from_json(cls, data: Json) -> GeneratedStyle:
        style = data.get("style") or {}
        if not style:
            return cls(data.get("label", ""), data.get("blind_judge_accuracy"), None)
        distance = data.get("style_distance")
        report = StyleReport.from_json(style, 0.0)
        if distance is None:  # older records have no distance: computed from their metrics
            distance = style_distance(report.generated, report.real)
        return cls(data.get("label", ""), data.get("blind_judge_accuracy"), replace(report, style_distance=distance))


@dataclass(frozen=True, slots=True)
class SampleTurn:
    role: str
    speaker: str | None
    messages: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Sample:
    """A side-by-side example (message texts are the owner's; shown on request only)."""

    context: tuple[SampleTurn, ...]
    real: tuple[str, ...]
    generated: tuple[str, ...]

    def to_json(self) -> Json:
        return {"context": [{"role": t.role, "speaker": t.speaker, "messages": list(t.messages)} for t in self.context],
                "real": list(self.real), "generated": list(self.generated)}

    @classmethod
    def from_json(cls, data: Json) -> Sample:
        turns = tuple(SampleTurn(t.get("role", ""), t.get("speaker"), tuple(t.get("messages") or ())) for t in data.get("context", []))
        return cls(turns, tuple(data.get("real", ())), tuple(data.get("generated", ())))


@dataclass(frozen=True, slots=True)
class EvalTiming:
    """Where the evaluation's seconds went (wall clock), and how much the cache answered."""

    total: float
    export: float = 0.0
    """Building CTranslate2 exports to generate on (the new adapter's is what promotion serves)."""
    perplexity: float = 0.0
    hits: float = 0.0
    generation: float = 0.0
    """Generating replies through the live path, every model measured (exports not included)."""
    cached_lookups: int = 0
    """Per-example measurements answered from the evaluation cache."""
    measured_lookups: int = 0
    """Per-example measurements made in this run."""

    def to_json(self) -> Json:
        return {"total": self.total, "export": self.export, "perplexity": self.perplexity, "hits": self.hits,
                "generation": self.generation, "cached_lookups": self.cached_lookups,
                "measured_lookups": self.measured_lookups}

    @classmethod
    def from_json(cls, data: Json | None) -> EvalTiming | None:
        if not data or data.get("total") is None:
            return None
        return cls(float(data["total"]), *(float(data.get(k) or 0.0) for k in ("export", "perplexity", "hits", "generation")),
                   int(data.get("cached_lookups") or 0), int(data.get("measured_lookups") or 0))


@dataclass(frozen=True, slots=True)
class EvaluationReport:
    """Held-out evaluation of the new adapter, with the base and the served adapter beside it."""

    heldout_examples: int
    scored_tokens: int
    perplexity: PerModel
    hits_at_1: PerModel = field(default_factory=PerModel)
    generated: int = 0
    """Held-out contexts the new adapter (and the reference) generated a reply for."""
    generation_seconds: float | None = None
    new: GeneratedStyle | None = None
    reference: GeneratedStyle | None = None
    """The served model's generated style on the same contexts (what the gate compares with)."""
    samples: tuple[Sample, ...] = ()
    promoted_adapter: str | None = None
    promoted_error: str | None = None
    first_sample: GeneratedStyle | None = None
    """The new adapter's first kept sample per context, before selection ranked the candidates:
    beside `new` (what selection sent) it shows what selection does to the style."""
    replies_path: str | None = None
    """Which path generated the evaluated replies (the live selection, on which engine)."""
    timing: EvalTiming | None = None
    """Where the evaluation's seconds went (None in records from before it was measured)."""

    @property
    def blind_judge_accuracy(self) -> float | None:
        return self.new.blind_judge_accuracy if self.new else None

    @property
    def style_distance(self) -> float | None:
        return self.new.style_distance if self.new else None

    def to_json(self) -> Json:
        return {
            "heldout_examples": self.heldout_examples, "scored_tokens": self.scored_tokens,
            "perplexity": self.perplexity.to_json(), "hits_at_1": self.hits_at_1.to_json(),
            "blind_judge_accuracy": self.blind_judge_accuracy, "style_distance": self.style_distance,
            "style": self.new.style.to_json() if self.new and self.new.style else {},
            "generated": self.generated, "generation_seconds": self.generation_seconds,
            "new": self.new.to_json() if self.new else None,
            "reference": self.reference.to_json() if self.reference else None,
            "samples": [s.to_json() for s in self.samples],
            "promoted_adapter": self.promoted_adapter, "promoted_error": self.promoted_error,
            "first_sample": self.first_sample.to_json() if self.first_sample else None,
            "replies_path": self.replies_path, "timing": self.timing.to_json() if self.timing else None,
        }

    @classmethod
    def from_json(cls, data: Json) -> EvaluationReport:
        new, reference, first = data.get("new"), data.get("reference"), data.get("first_sample")
        if new is None and data.get("style"):  # a record from before the typed report
            new = {"label": "new adapter", "style": data["style"], "blind_judge_accuracy": None}
        return cls(
            heldout_examples=int(data.get("heldout_examples") or 0), scored_tokens=int(data.get("scored_tokens") or 0),
            perplexity=PerModel.from_json(data.get("perplexity")), hits_at_1=PerModel.from_json(data.get("hits_at_1")),
            generated=int(data.get("generated") or 0), generation_seconds=data.get("generation_seconds"),
            new=GeneratedStyle.from_json(new) if new else None,
            reference=GeneratedStyle.from_json(reference) if reference else None,
            samples=tuple(Sample.from_json(s) for s in data.get("samples") or ()),
            promoted_adapter=data.get("promoted_adapter"), promoted_error=data.get("promoted_error"),
            first_sample=GeneratedStyle.from_json(first) if first else None,
            replies_path=data.get("replies_path"), timing=EvalTiming.from_json(data.get("timing")),
        )

    def summary(self) -> Json:
        """The figures `main.py eval --json` prints first (served = the adapter promoted when the run started)."""
        p, h = self.perplexity, self.hits_at_1
        return {
            "perplexity": {"base": p.base, "served": p.promoted, "new": p.new},
            "hits_at_1": {"base": h.base, "served": h.promoted, "new": h.new},
            "blind_judge_accuracy": self.blind_judge_accuracy,
            "style_distance": self.style_distance,
            "reference": self.reference.to_json() if self.reference else None,
            "generated": self.generated,
            "generation_seconds": self.generation_seconds,
            "heldout_examples": self.heldout_examples,
            "style": self.new.style.to_json() if self.new and self.new.style else {},
            "replies_path": self.replies_path,
            "first_sample": self.first_sample.to_json() if self.first_sample else None,
            "timing": self.timing.to_json() if self.timing else None,
        }


@dataclass(frozen=True, slots=True)
class RunReport:
    """Everything one training run reports."""

    run_id: int
    adapter_base_model: str
    preset: Json
    data: Json
    fit: Json
    evaluation: EvaluationReport
    promotion: PromotionDecision | None = None
    world_size: int = 1
    """Processes that trained (torchrun/accelerate); only the main one evaluates and records."""
    sequences: Json = field(default_factory=dict)
    """Training-sequence statistics (`training.data.sequences.SequenceStats`: loss_token_share...)."""
    preference: Json | None = None
    """The preference stage (`training.fitting.preference.PreferenceStageResult.as_dict()`: ran, reason,
    pairs_train, pairs_heldout, accuracy_before, accuracy_after, steps, seconds, final_loss);
    None in records from before the stage existed."""
    coverage: Json | None = None
    """What the run continued from and learned, and its adapter's coverage
    (`training.runs.continual.RunLearning.as_dict()`); None in records from before continual training."""

    def with_promotion(self, decision: PromotionDecision) -> RunReport:
        return replace(self, promotion=decision)

    def to_json(self) -> Json:
        return {
            "run_id": self.run_id, "adapter_base_model": self.adapter_base_model, "preset": self.preset,
            "data": self.data, "fit": self.fit, "evaluation": self.evaluation.to_json(),
            "promotion": self.promotion.as_dict() if self.promotion else None,
            "world_size": self.world_size, "sequences": self.sequences, "preference": self.preference,
            "coverage": self.coverage,
        }

    @classmethod
    def from_json(cls, data: Json) -> RunReport:
        promotion = data.get("promotion")
        return cls(
            run_id=int(data.get("run_id") or 0), adapter_base_model=data.get("adapter_base_model", ""),
            preset=data.get("preset") or {}, data=data.get("data") or {}, fit=data.get("fit") or {},
            evaluation=EvaluationReport.from_json(data.get("evaluation") or {}),
            promotion=PromotionDecision.from_json(promotion) if promotion else None,
            world_size=int(data.get("world_size") or 1), sequences=data.get("sequences") or {},
            preference=data.get("preference"), coverage=data.get("coverage"),
        )

    def cost(self) -> Json:
        """Evaluation seconds against training seconds and the preset's training budget (issue 19:
        evaluation may cost at most 30 % of the budget on the default preset)."""
        timing = self.evaluation.timing
        train = self.fit.get("seconds")
        budget = self.preset.get("time_budget_minutes")
        evaluation = timing.total if timing else None

        def share(of: float | None) -> float | None:
            return round(evaluation / of, 4) if evaluation is not None and of else None

        return {"train_seconds": train, "eval_seconds": evaluation, "eval_share_of_train": share(train),
                "train_budget_seconds": budget * 60 if budget else None,
                "eval_share_of_budget": share(budget * 60 if budget else None)}

    def adapter_metrics(self) -> Json:
        """What the adapter row stores (`adapters.metrics`)."""
        e = self.evaluation
        return {"perplexity": e.perplexity.to_json(), "hits_at_1": e.hits_at_1.to_json(),
                "blind_judge_accuracy": e.blind_judge_accuracy, "style_distance": e.style_distance,
                "fit": self.fit, "promoted": bool(self.promotion and self.promotion.promote)}

    def meta(self, created_at: int) -> Json:
        """The adapter directory's `meta.json`."""
        return {
            "base_model": self.adapter_base_model, "preset": self.preset.get("name"), "config": self.preset,
            "run_id": self.run_id, "created_at": created_at, "data": self.data,
            "metrics": {**self.adapter_metrics(), "style": self.evaluation.to_json()["style"]},
            "promotion": self.promotion.as_dict() if self.promotion else None,
            "preference": self.preference, "coverage": self.coverage,
        }


def eval_json(adapter_id: str, report: Json | None, metrics: Json) -> Json:
    """`main.py eval --json`: one object for an adapter, from its run's report (or, without one, the
    figures its adapter row kept). `world_size` is None where the report does not record it (an
    adapter without a run, a run from before it was recorded)."""
    run = RunReport.from_json(report) if report else None
    evaluation = run.evaluation if run else EvaluationReport(0, 0, PerModel.from_json(metrics.get("perplexity")),
                                                             PerModel.from_json(metrics.get("hits_at_1")))
    promotion = run.promotion.as_dict() if run and run.promotion else None
    preference = run.preference if run else None
    coverage = run.coverage if run else None
    return {"adapter": adapter_id, **evaluation.summary(), "cost": run.cost() if run else None,
            "promotion": promotion, "preference": preference,
            "world_size": run.world_size if run and report and "world_size" in report else None,
            "coverage": coverage}
