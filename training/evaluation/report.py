"""The evaluation's part of a run report (`training.runs.report.RunReport.evaluation`): held-out
perplexity and hits@1 per model, the generated replies' voice, side-by-side samples and where the
evaluation's seconds went. Frozen dataclasses with `to_json`/`from_json`, and the two helpers every
reader of stored report JSON uses: a section that may be missing, a figure that may be missing.

The JSON keeps the keys the panel, the REST API and older records use
(`perplexity.{base,promoted,new}`, `style.{metric: {generated, real, gap}}`); a record from before
a figure existed reads it as None or its default. The memory figures (`MemoryFigures`) sit at the
top level of the section as `memory`, `memory_recall` and `hits_at_1_memory`, as `eval --json`
prints them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from training.evaluation.style import StyleReport, style_distance

Json = dict[str, Any]


def json_section(data: Any, key: str) -> Json:
    """`data[key]` when both are JSON objects, else an empty one (a missing or malformed section)."""
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, dict) else {}


def json_figure(value: Any) -> float | None:
    """A stored number as a float (NaN kept: each reader decides what to show); None otherwise."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


@dataclass(frozen=True, slots=True)
class PerModel:
    """One figure for the base model, the adapter served when the run started, and the new adapter."""

    base: float | None = None
    promoted: float | None = None
    new: float | None = None

    def to_json(self) -> Json:
        return {"base": self.base, "promoted": self.promoted, "new": self.new}

    @classmethod
    def from_json(cls, data: Any) -> PerModel:
        data = data if isinstance(data, dict) else {}
        return cls(json_figure(data.get("base")), json_figure(data.get("promoted")), json_figure(data.get("new")))


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
        style, label = json_section(data, "style"), str(data.get("label") or "")
        judge = json_figure(data.get("blind_judge_accuracy"))
        if not style:
            return cls(label, judge, None)
        distance = json_figure(data.get("style_distance"))
        report = StyleReport.from_json(style, 0.0)
        if distance is None:  # older records have no distance: computed from their metrics
            distance = style_distance(report.generated, report.real)
        return cls(label, judge, replace(report, style_distance=distance))


@dataclass(frozen=True, slots=True)
class SampleTurn:
    role: str
    speaker: str | None
    messages: tuple[str, ...]

    def to_json(self) -> Json:
        return {"role": self.role, "speaker": self.speaker, "messages": list(self.messages)}

    @classmethod
    def from_json(cls, data: Json) -> SampleTurn:
        messages = data.get("messages")
        if messages is None and data.get("text") is not None:  # records from before turns held messages
            messages = [data["text"]]
        return cls(str(data.get("role") or ""), data.get("speaker"), tuple(str(m) for m in messages or ()))


@dataclass(frozen=True, slots=True)
class Sample:
    """A side-by-side example (message texts are the owner's; shown on request only)."""

    context: tuple[SampleTurn, ...]
    real: tuple[str, ...]
    generated: tuple[str, ...]

    def to_json(self) -> Json:
        return {"context": [t.to_json() for t in self.context], "real": list(self.real),
                "generated": list(self.generated)}

    @classmethod
    def from_json(cls, data: Json) -> Sample:
        turns = tuple(SampleTurn.from_json(t) for t in data.get("context") or () if isinstance(t, dict))
        return cls(turns, tuple(data.get("real") or ()), tuple(data.get("generated") or ()))


@dataclass(frozen=True, slots=True)
class OnOff:
    """A figure of the new adapter with memory on (prompts carry the memory each example recalled) and
    off (the same prompts without it). `on` is None when the adapter's format has no memory block."""

    on: float | None = None
    off: float | None = None

    def to_json(self) -> Json:
        return {"on": self.on, "off": self.off}

    @classmethod
    def from_json(cls, data: Json) -> OnOff:
        return cls(json_figure(data.get("on")), json_figure(data.get("off")))


@dataclass(frozen=True, slots=True)
class MemoryFigures:
    """What memory does for the new adapter, in its own prompt format: memory_recall over the
    fact-dependent held-out turns (`training.evaluation.memory_recall`) and hits@1 over the hits@1
    contexts, each with memory on and off. Not a gate criterion (yet): the report shows it."""

    memory: bool
    """The adapter's format has a memory block; without one there are "off" figures only."""
    fact_dependent: int | None
    """Fact-dependent held-out turns generated for (None: the evaluation was given no history to
    find them in)."""
    memory_recall: OnOff
    hits_at_1: OnOff
    fact_in_memory: int | None = None
    """Of the fact-dependent turns, those whose recalled memory holds the fact word (what retrieval
    found; None without a memory block)."""

    def to_json(self) -> Json:
        """The keys `eval --json` prints and the run report stores: `memory`, `memory_recall` (on, off
        and the turn counts) and `hits_at_1_memory`."""
        recall = {**self.memory_recall.to_json(), "fact_dependent": self.fact_dependent,
                  "fact_in_memory": self.fact_in_memory}
        return {"memory": self.memory, "memory_recall": recall, "hits_at_1_memory": self.hits_at_1.to_json()}

    @classmethod
    def from_json(cls, data: Json) -> MemoryFigures | None:
        """None for a record from before memory was measured (no `memory` key)."""
        memory = data.get("memory")
        if not isinstance(memory, bool):
            return None
        recall = json_section(data, "memory_recall")
        counts = (recall.get(k) for k in ("fact_dependent", "fact_in_memory"))
        fact_dependent, in_memory = (int(c) if isinstance(c, int) else None for c in counts)
        return cls(memory, fact_dependent, OnOff.from_json(recall),
                   OnOff.from_json(json_section(data, "hits_at_1_memory")), in_memory)

    @staticmethod
    def absent_json() -> Json:
        """The same keys for a report without the figures: None each."""
        return {"memory": None, "memory_recall": None, "hits_at_1_memory": None}


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
    memory: float = 0.0
    """The memory figures on top: replies to the fact-dependent turns with memory on and off, and
    hits@1 with memory off (what the other parts measured already comes from the cache)."""
    cached_lookups: int = 0
    """Per-example measurements answered from the evaluation cache."""
    measured_lookups: int = 0
    """Per-example measurements made in this run."""

    def to_json(self) -> Json:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Json) -> EvalTiming | None:
        total = json_figure(data.get("total"))
        if total is None:
            return None
        seconds = (json_figure(data.get(k)) or 0.0 for k in ("export", "perplexity", "hits", "generation", "memory"))
        return cls(total, *seconds, int(data.get("cached_lookups") or 0), int(data.get("measured_lookups") or 0))


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
    memory: MemoryFigures | None = None
    """memory_recall and hits@1 with memory on and off (None in records from before they were measured)."""

    def memory_json(self) -> Json:
        return self.memory.to_json() if self.memory else MemoryFigures.absent_json()

    @property
    def blind_judge_accuracy(self) -> float | None:
        return self.new.blind_judge_accuracy if self.new else None

    @property
    def style_distance(self) -> float | None:
        return self.new.style_distance if self.new else None

    @property
    def style(self) -> StyleReport | None:
        """The new adapter's style metrics against the owner's real replies."""
        return self.new.style if self.new else None

    def style_json(self) -> Json:
        return self.style.to_json() if self.style else {}

    def to_json(self) -> Json:
        return {
            "heldout_examples": self.heldout_examples, "scored_tokens": self.scored_tokens,
            "perplexity": self.perplexity.to_json(), "hits_at_1": self.hits_at_1.to_json(),
            "blind_judge_accuracy": self.blind_judge_accuracy, "style_distance": self.style_distance,
            "style": self.style_json(), "generated": self.generated, "generation_seconds": self.generation_seconds,
            "new": self.new.to_json() if self.new else None,
            "reference": self.reference.to_json() if self.reference else None,
            "samples": [s.to_json() for s in self.samples],
            "promoted_adapter": self.promoted_adapter, "promoted_error": self.promoted_error,
            "first_sample": self.first_sample.to_json() if self.first_sample else None,
            "replies_path": self.replies_path, "timing": self.timing.to_json() if self.timing else None,
            **self.memory_json(),
        }

    @classmethod
    def from_json(cls, data: Json) -> EvaluationReport:
        new, reference, first = (json_section(data, k) for k in ("new", "reference", "first_sample"))
        if not new and json_section(data, "style"):  # a record from before the typed report
            new = {"label": "new adapter", "style": data["style"], "blind_judge_accuracy": None}
        return cls(
            heldout_examples=int(data.get("heldout_examples") or 0), scored_tokens=int(data.get("scored_tokens") or 0),
            perplexity=PerModel.from_json(data.get("perplexity")), hits_at_1=PerModel.from_json(data.get("hits_at_1")),
            generated=int(data.get("generated") or 0), generation_seconds=json_figure(data.get("generation_seconds")),
            new=GeneratedStyle.from_json(new) if new else None,
            reference=GeneratedStyle.from_json(reference) if reference else None,
            samples=tuple(Sample.from_json(s) for s in data.get("samples") or () if isinstance(s, dict)),
            promoted_adapter=data.get("promoted_adapter"), promoted_error=data.get("promoted_error"),
            first_sample=GeneratedStyle.from_json(first) if first else None,
            replies_path=data.get("replies_path"), timing=EvalTiming.from_json(json_section(data, "timing")),
            memory=MemoryFigures.from_json(data),
        )

    def summary(self) -> Json:
        """The figures `eval --json` prints first (served = the adapter promoted when the run started)."""
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
            "style": self.style_json(),
            "replies_path": self.replies_path,
            "first_sample": self.first_sample.to_json() if self.first_sample else None,
            "timing": self.timing.to_json() if self.timing else None,
            **self.memory_json(),
        }
