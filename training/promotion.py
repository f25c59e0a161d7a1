"""The promotion gate and adapter versioning: what is served changes only through here.

`decide_promotion` is pure: a new adapter is served only if its held-out perplexity beats what is
served now by the configured margin, and (`decide`) its voice is not worse than what is served: the
blind judge tells it from the owner no more easily, its style is no further from the owner's (each
beyond a margin), and it ranks the owner's real reply first no less often (hits@1). A figure that
could not be measured on either side (too few generated replies) does not block, and the reason
says it was not judged. `promote_adapter`/`rollback_adapter` record the change in
storage and tell the live model to swap (the CLI passes no model; the next start serves it).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

from services import ReplyModel
from storage import Database
from storage import training as training_queries


@dataclass(frozen=True, slots=True)
class PromotionDecision:
    promote: bool
    reason: str
    reference: str
    """What the new adapter was compared with: `adapter <id>` or `base model`."""
    criterion: str = "perplexity"
    """What decided: `servable`, `perplexity`, `blind_judge`, `style_distance`, `hits_at_1`, or `all`
    (every criterion passed)."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PromotionDecision:
        return cls(bool(data.get("promote")), str(data.get("reason", "")), str(data.get("reference", "")),
                   str(data.get("criterion", "perplexity")))


@dataclass(frozen=True, slots=True)
class Scores:
    """The figures the gate compares for one model on the same held-out contexts."""

    perplexity: float | None
    blind_judge_accuracy: float | None = None
    style_distance: float | None = None
    hits_at_1: float | None = None


@dataclass(frozen=True, slots=True)
class Margins:
    perplexity: float = 0.0
    """The new perplexity must be below served * (1 - margin)."""
    judge: float = 0.05
    """Blind-judge accuracy may exceed the served model's by at most this much (absolute)."""
    style: float = 0.05
    """Style distance may exceed the served model's by at most this much (absolute)."""
    min_contexts: int = 32
    """Below this many evaluated held-out contexts the voice criteria are too noisy to refuse on:
    measured on the bundled sample with 12 contexts, the blind judge put the base model at 0.33 and
    a trained adapter at 0.54 although the base invented words in 75 % of its replies."""

    @classmethod
    def from_settings(cls, settings: Any) -> Margins:
        return cls(settings.promotion_margin, settings.judge_margin, settings.style_margin)


def _number(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def decide(new: Scores, served: Scores, margins: Margins, reference: str, servable: bool = True,
           contexts: int | None = None) -> PromotionDecision:
    """Perplexity first (`decide_promotion`), then the voice criteria, in order; the first failing
    criterion decides. Lower is better for judge accuracy and style distance, higher for hits@1.
    `contexts`: how many held-out contexts the voice figures come from (None = enough)."""
    first = decide_promotion(new.perplexity, served.perplexity, margins.perplexity, reference, servable)
    if not first.promote:
        return first if servable else replace(first, criterion="servable")
    notes = [first.reason]
    if contexts is not None and contexts < margins.min_contexts:
        notes.append(f"voice not judged: {contexts} held-out contexts, fewer than {margins.min_contexts}")
        return PromotionDecision(True, "; ".join(notes), reference, "perplexity")
    checks = (
        ("blind_judge", "blind judge", new.blind_judge_accuracy, served.blind_judge_accuracy, margins.judge, True),
        ("style_distance", "style distance", new.style_distance, served.style_distance, margins.style, True),
        ("hits_at_1", "hits@1", new.hits_at_1, served.hits_at_1, 0.0, False),
    )
    for criterion, name, mine, theirs, margin, lower_is_better in checks:
        if not (_number(mine) and _number(theirs)):
            notes.append(f"{name} not judged (not measured on both)")
            continue
        assert mine is not None and theirs is not None
        worse = mine > theirs + margin if lower_is_better else mine < theirs - margin
        if worse:
            return PromotionDecision(False, f"{name} {mine:.3f} is worse than {reference}'s {theirs:.3f} (margin {margin:.2f})",
                                     reference, criterion)
        notes.append(f"{name} {mine:.3f} vs {theirs:.3f}")
    return PromotionDecision(True, "; ".join(notes), reference, "all")


def decide_promotion(
    new_perplexity: float | None,
    served_perplexity: float | None,
    margin: float,
    reference: str,
    servable: bool = True,
) -> PromotionDecision:
    """Promote iff `new < served * (1 - margin)` on the same held-out set.

    No held-out perplexity (no held-out data, or NaN) → not promoted: we promote on evidence only.
    `servable` False (trained on a base model other than the one served) → kept, not served.
    """
    if not servable:
        return PromotionDecision(False, "trained on a different base model than the one served", reference)
    if new_perplexity is None or not math.isfinite(new_perplexity):
        return PromotionDecision(False, "no held-out perplexity to judge by", reference)
    if served_perplexity is None or not math.isfinite(served_perplexity):
        return PromotionDecision(True, f"nothing comparable is served (ppl {new_perplexity:.3f})", reference)
    threshold = served_perplexity * (1 - margin)
    if new_perplexity < threshold:
        return PromotionDecision(
            True, f"held-out ppl {new_perplexity:.3f} < {threshold:.3f} ({reference} {served_perplexity:.3f}, margin {margin:.0%})", reference
        )
    return PromotionDecision(
        False, f"held-out ppl {new_perplexity:.3f} does not beat {threshold:.3f} ({reference} {served_perplexity:.3f}, margin {margin:.0%})", reference
    )


async def promote_adapter(db: Database, model: ReplyModel | None, adapter_id: str, reason: str) -> training_queries.Adapter:
    """Serve `adapter_id` from now on (storage.NotFound if unknown). The live model swaps first, so a
    swap that fails (e.g. a missing directory) leaves the record unchanged."""
    adapter = await training_queries.get_adapter(db, adapter_id)
    if model is not None:
        await model.swap_adapter(adapter.path)
    await training_queries.promote(db, adapter_id, reason)
    return adapter


async def rollback_adapter(db: Database, model: ReplyModel | None) -> training_queries.Adapter | None:
    """Serve what was promoted before the current adapter (None = the base model);
    storage.InvalidValue when nothing was ever promoted. If the live model cannot load it, the
    record is put back, so storage and what is served never disagree."""
    current = await training_queries.promoted_adapter(db)
    previous = await training_queries.rollback(db)
    if model is not None:
        try:
            await model.swap_adapter(None if previous is None else previous.path)
        except Exception:
            await training_queries.promote(db, None if current is None else current.id, "rollback undone: the model could not load it")
            raise
    return previous
