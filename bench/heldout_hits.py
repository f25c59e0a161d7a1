"""hits@1 over many held-out contexts, for benches that compare adapters trained on one history.

The gate measures hits@1 on the last `eval_generate` held-out contexts (32 in the default preset),
which steps by 0.03 a context: issue 20's bench found two memory arms 3 contexts apart on those 32
and 40 apart on the last 256. Here an adapter scores the real reply against the same seeded
distractors as the gate draws them (`training.evaluation.hits`), on the last `contexts` answerable
held-out examples (`training.evaluation.evaluate.answerable`), through the torch engine serving
uses for scores; and two adapters' hits are compared context by context (the same history gives
both the same contexts and distractors).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class PairedHits:
    """Where two adapters' hits on the same contexts disagree."""

    contexts: int
    first_only: int
    """Contexts the first adapter hit and the second missed."""
    second_only: int

    @property
    def second_better_p(self) -> float:
        """One-sided sign test: the chance that, of the contexts where the two disagree, the second
        adapter gets at least `second_only` right if both were equally good (1.0 when they never disagree)."""
        disagree = self.first_only + self.second_only
        return sum(math.comb(disagree, k) for k in range(self.second_only, disagree + 1)) / 2 ** disagree


def paired(first: Sequence[bool], second: Sequence[bool]) -> PairedHits:
    """Compare hits context by context (pure; both lists in the same context order)."""
    if len(first) != len(second) or not first:
        raise ValueError(f"paired hits need the same contexts on both sides, not {len(first)} and {len(second)}")
    pairs = list(zip(first, second, strict=True))
    return PairedHits(len(pairs), sum(a and not b for a, b in pairs), sum(b and not a for a, b in pairs))


@dataclass(frozen=True, slots=True)
class HeldoutHits:
    """An adapter's hits per context (oldest first), with the recalled exchanges and without."""

    on: list[bool]
    """Empty where not asked for."""
    off: list[bool]


async def heldout_hits(settings: Any, adapter_dir: Path, contexts: int, with_memory: bool) -> HeldoutHits:
    """Whether `adapter_dir` ranks the owner's real reply first, for each of the last `contexts`
    answerable held-out examples of `settings`' history, in the adapter's prompt format: without
    memory, and (`with_memory`) also with each context's recalled exchanges."""
    import asyncio

    from storage import Database
    from training.data.dataset import load_dataset
    from training.evaluation.evaluate import answerable
    from training.evaluation.hits import distractor_sets
    from training.evaluation.memory_eval import without_memory

    async with Database.open(settings.db_path) as db:
        built = await load_dataset(db, settings)
    chosen = answerable(built.heldout)[-contexts:]
    reals = [e.reply.messages for e in chosen]
    distractors = distractor_sets(reals, [e.reply.messages for e in built.examples])
    shown = [[without_memory(e) for e in chosen], *([chosen] if with_memory else [])]
    choices = [list(zip([e.dialogue for e in examples], reals, distractors, strict=True)) for examples in shown]
    off, *on = await asyncio.to_thread(_score, settings, adapter_dir, choices)
    return HeldoutHits(on[0] if on else [], off)


def _score(settings: Any, adapter_dir: Path, choice_sets: list[list[tuple[Any, Any, Any]]]) -> list[list[bool]]:
    from model.adapter_format import serving_format
    from model.prompt import PromptFormat
    from model.service import read_adapter_info
    from model.torch_engine import TorchEngine
    from training.evaluation.hits import is_hit

    engine = TorchEngine(read_adapter_info(adapter_dir).base_model or settings.base_model, settings.models_dir)
    engine.load()
    try:
        engine.activate(str(adapter_dir))
        fmt = serving_format(adapter_dir, lambda: PromptFormat.for_tokenizer(engine.tokenizer))
        return [[is_hit(engine.score(fmt, dialogue, [real, *distractors])) for dialogue, real, distractors in choices]
                for choices in choice_sets]
    finally:
        engine.close()
