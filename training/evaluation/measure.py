"""One model's evaluation measurements (`training.evaluation.evaluate` puts them together): perplexity, hits@1
and the replies users would get, each per held-out example and through the evaluation cache
(`training.evaluation.cache`), so only what the cache lacks is measured; plus the precision and the
threads the forward passes run with."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.data.dataset import DialogueExample
from training.evaluation.cache import CachedReplies, ModelCache, distractors_key, example_key, replies_key
from training.evaluation.hits import context_hit, hit_rate
from training.evaluation.perplexity import Row, encode_example, row_nlls
from training.evaluation.replies import ReplyEngines, live_reply


@dataclass(frozen=True, slots=True)
class EvalModel:
    """One model under evaluation: its label, prompt format, cache, adapter directory (None = the
    base), and how to put the torch model into its state."""

    label: str
    fmt: Any
    cache: ModelCache
    adapter_dir: Path | None
    state: Callable[[], AbstractContextManager[Any]]


@dataclass(frozen=True, slots=True)
class Measured:
    """One model's figures: perplexity, hits@1, and its replies (None when it did not generate)."""

    perplexity: float | None
    hits: float | None
    replies: list[CachedReplies] | None


class Clock:
    """Seconds per part of the evaluation."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {"perplexity": 0.0, "hits": 0.0, "generation": 0.0}

    @contextmanager
    def part(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - started


@dataclass(frozen=True, slots=True)
class Plan:
    """The held-out examples each measurement uses, with their cache keys."""

    scored: list[DialogueExample]
    generated: list[DialogueExample]
    distractors: list[list[tuple[str, ...]]]
    max_length: int

    def key(self, example: DialogueExample) -> str:
        return example_key(example.dialogue, example.reply.messages)


def _perplexity(model: Any, tokenizer: Any, subject: EvalModel, plan: Plan) -> float | None:
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    known: list[tuple[float, int]] = []
    todo: list[tuple[str, Row]] = []
    for example in plan.scored:
        key = plan.key(example)
        cached = subject.cache.nll(key, plan.max_length)
        if cached is not None:
            known.append(cached)
        elif (row := encode_example(tokenizer, subject.fmt, example, plan.max_length)) is not None:
            todo.append((key, row))
    for (key, _), value in zip(todo, row_nlls(model, [row for _, row in todo], pad) if todo else [], strict=True):
        subject.cache.put_nll(key, plan.max_length, value)
        known.append(value)
    total, count = sum(n for n, c in known if c), sum(c for _, c in known)
    return math.exp(total / count) if count else None


def _hits(model: Any, tokenizer: Any, subject: EvalModel, plan: Plan) -> float | None:
    hits = []
    for example, others in zip(plan.generated, plan.distractors, strict=True):
        key, against = plan.key(example), distractors_key(others)
        hit = subject.cache.hit(key, against)
        if hit is None:
            hit = context_hit(model, tokenizer, subject.fmt, example.dialogue, example.reply.messages, others)
            subject.cache.put_hit(key, against, hit)
        hits.append(hit)
    return hit_rate(hits)


def _replies(engines: ReplyEngines, model: Any, subject: EvalModel, plan: Plan, generation: Any,
             candidates: int) -> list[CachedReplies]:
    out: list[CachedReplies] = []
    engine = None
    for example in plan.generated:
        key = plan.key(example)
        found = subject.cache.replies(key, replies_key(generation, candidates, engines.name))
        if found is None:
            engine = engine or engines.for_model(subject.adapter_dir, model)  # may fall back to torch
            found = live_reply(engine, subject.fmt, example.dialogue, generation, candidates)
            subject.cache.put_replies(key, replies_key(generation, candidates, engines.name), found)
        out.append(found)
    return out


def measure_model(model: Any, tokenizer: Any, subject: EvalModel, plan: Plan, engines: ReplyEngines, generation: Any,
                  candidates: int, generate: bool, clock: Clock) -> Measured:
    with subject.state():
        with clock.part("perplexity"):
            ppl = _perplexity(model, tokenizer, subject, plan)
        with clock.part("hits"):
            hits = _hits(model, tokenizer, subject, plan)
        with clock.part("generation"):
            replies = _replies(engines, model, subject, plan, generation, candidates) if generate else None
    subject.cache.save()
    return Measured(ppl, hits, replies)


def to_inference_dtype(model: Any) -> str:
    """Cast the trained model, in place, to the dtype torch serves in on this machine (bf16 where
    the CPU has native bf16 matmuls, `model.sources.inference_dtype`): measured on 2 shared cores,
    hits@1 for 32 contexts took 22-30 s in bf16 against 66 s in fp32, perplexity 8 s against 19 s,
    with the same hits and perplexity within 0.2 %. Safe in place: the adapter is saved already and
    nothing trains the model afterwards. Quantised and GPU models stay as they are. Returns the
    dtype the evaluation computes in (part of every cache key)."""
    import torch

    from model.sources import inference_dtype

    parameter = next(model.parameters())
    quantized = getattr(model, "is_loaded_in_4bit", False) or getattr(model, "is_loaded_in_8bit", False)
    if parameter.device.type == "cpu" and parameter.dtype == torch.float32 and not quantized:
        target = inference_dtype(cuda=False)
        if target != torch.float32:
            model.to(target)
    return str(next(model.parameters()).dtype)


@contextmanager
def torch_threads() -> Iterator[None]:
    """Torch threads for the evaluation's forward passes: what serving would take now (every core,
    or half of them when the machine is busy: OpenMP's per-op barriers collapse on oversubscribed
    cores; measured on 2 shared cores at load ~6, hits@1 for 32 contexts took 670 s on 2 threads and
    84 s on 1). The training's own setting comes back afterwards."""
    import torch

    from model.service import serving_threads

    before = torch.get_num_threads()
    torch.set_num_threads(serving_threads(training=False))
    try:
        yield
    finally:
        torch.set_num_threads(before)
