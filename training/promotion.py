"""The promotion gate and adapter versioning: what is served changes only through here.

`decide_promotion` is pure: a new adapter is served only if its held-out perplexity beats what is
served now by the configured margin. `promote_adapter`/`rollback_adapter` record the change in
storage and tell the live model to swap (the CLI passes no model; the next start serves it).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
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

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


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
