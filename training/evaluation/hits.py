"""hits@1: does the model answer *what was asked*? For each held-out context, the owner's real reply
competes with `DISTRACTORS` replies the owner gave in other contexts; a hit is the real one scoring
strictly highest by the model's length-normalised log-likelihood given this context (the same score
that ranks live candidates). Chance is 1 / (DISTRACTORS + 1) = 0.1.

Distractors are drawn purely and reproducibly (seeded per context), so base, served and new models
are judged on the very same choices.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from model.dialogue import Dialogue

DISTRACTORS = 9
SEED = 1234

Reply = tuple[str, ...]


def _key(reply: Sequence[str]) -> str:
    return "\n".join(m.strip().casefold() for m in reply)


def sample_distractors(real: Sequence[str], pool: Sequence[Reply], index: int, k: int = DISTRACTORS,
                       seed: int = SEED) -> list[Reply]:
    """`k` distinct replies from `pool` that differ from `real` (fewer if the pool has fewer),
    chosen by a generator seeded with (`seed`, `index`)."""
    own = _key(real)
    distinct: dict[str, Reply] = {}
    for reply in pool:
        key = _key(reply)
        if key and key != own and key not in distinct:
            distinct[key] = tuple(reply)
    choices = sorted(distinct)
    rng = random.Random(f"{seed}:{index}")
    return [distinct[key] for key in rng.sample(choices, min(k, len(choices)))]


def distractor_sets(reals: Sequence[Sequence[str]], pool: Sequence[Reply]) -> list[list[Reply]]:
    """Each context's distractors, in the contexts' order (`sample_distractors` by position)."""
    return [sample_distractors(real, pool, i) for i, real in enumerate(reals)]


def is_hit(scores: Sequence[float | None]) -> bool:
    """`scores[0]` (the real reply) beats every other score strictly; a missing score never wins."""
    real = scores[0]
    return real is not None and all(other is None or real > other for other in scores[1:])


def context_hit(
    model: Any, tokenizer: Any, fmt: Any, dialogue: Dialogue, real: Reply, distractors: Sequence[Reply]
) -> bool:
    """Whether the real reply ranks first among the distractors, given `dialogue` (one batched pass)."""
    from model.torch_engine import score_replies

    return is_hit(score_replies(model, tokenizer, fmt, dialogue, [real, *distractors]))


def hit_rate(hits: Sequence[bool]) -> float | None:
    """The share of hits (None without any context)."""
    return round(sum(hits) / len(hits), 4) if hits else None
