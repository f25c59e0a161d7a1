"""One model's evaluation measurements (`training.evaluation.evaluate` puts them together): perplexity, hits@1
and the replies users would get, each per held-out example and through the evaluation cache
(`training.evaluation.cache`), so only what the cache lacks is measured; for the new adapter also
what the memory figures need (replies to the fact-dependent turns and hits@1, with memory and
without); plus the precision and the threads the forward passes run with."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.data.dataset import DialogueExample
from training.evaluation.cache import CachedReplies, ModelCache, distractors_key, example_key, replies_key
from training.evaluation.hits import context_hit, hit_rate
from training.evaluation.memory_eval import FactTurns, MemoryMeasured, without_memory
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
    """One model's figures: perplexity, hits@1, its replies (None when it did not generate), and the
    memory measurements (the new adapter only)."""

    perplexity: float | None
    hits: float | None
    replies: list[CachedReplies] | None
    memory: MemoryMeasured | None = None


class Clock:
    """Seconds per part of the evaluation. A part timed inside another counts for itself only (an
    export built on the first reply to generate is `export`, not `generation`)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {"perplexity": 0.0, "hits": 0.0, "generation": 0.0, "memory": 0.0,
                                          "export": 0.0}
        self._running: list[str] = []

    @contextmanager
    def part(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        self._running.append(name)
        try:
            yield
        finally:
            self._running.pop()
            elapsed = time.perf_counter() - started
            self.seconds[name] += elapsed
            if self._running:
                self.seconds[self._running[-1]] -= elapsed


@dataclass(frozen=True, slots=True)
class Plan:
    """The held-out examples each measurement uses."""

    scored: list[DialogueExample]
    generated: list[DialogueExample]
    distractors: list[list[tuple[str, ...]]]
    max_length: int
    facts: FactTurns | None = None
    """The fact-dependent held-out turns the memory figures generate for (None: no history to find them in)."""


def cache_key(fmt: Any, example: DialogueExample) -> str:
    """An example's cache key for a model in format `fmt`: with the memory block that format shows."""
    return example_key(example.dialogue, example.reply.messages, fmt.memory_text(example.dialogue))


class _Engine:
    """The reply engine for one model, made when the first reply is not in the cache (a CTranslate2
    export may have to be built and activated; once per model)."""

    def __init__(self, engines: ReplyEngines, subject: EvalModel, model: Any, clock: Clock) -> None:
        self.engines, self.subject, self.model, self.clock = engines, subject, model, clock
        self._engine: Any = None

    def get(self) -> Any:
        if self._engine is None:
            with self.clock.part("export"):
                self._engine = self.engines.for_model(self.subject.adapter_dir, self.model)  # may fall back to torch
        return self._engine


def _perplexity(model: Any, tokenizer: Any, subject: EvalModel, plan: Plan) -> float | None:
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    known: list[tuple[float, int]] = []
    todo: list[tuple[str, Row]] = []
    for example in plan.scored:
        key = cache_key(subject.fmt, example)
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


def _hits(model: Any, tokenizer: Any, subject: EvalModel, examples: Sequence[DialogueExample],
          distractors: Sequence[Sequence[tuple[str, ...]]]) -> float | None:
    hits = []
    for example, others in zip(examples, distractors, strict=True):
        key, against = cache_key(subject.fmt, example), distractors_key(others)
        hit = subject.cache.hit(key, against)
        if hit is None:
            hit = context_hit(model, tokenizer, subject.fmt, example.dialogue, example.reply.messages, others)
            subject.cache.put_hit(key, against, hit)
        hits.append(hit)
    return hit_rate(hits)


def _replies(engine: _Engine, subject: EvalModel, examples: Sequence[DialogueExample], generation: Any,
             candidates: int) -> list[CachedReplies]:
    out: list[CachedReplies] = []
    how = replies_key(generation, candidates, engine.engines.name)
    for example in examples:
        key = cache_key(subject.fmt, example)
        found = subject.cache.replies(key, how)
        if found is None:
            found = live_reply(engine.get(), subject.fmt, example.dialogue, generation, candidates)
            subject.cache.put_replies(key, how, found)
        out.append(found)
    return out


def _memory(model: Any, tokenizer: Any, engine: _Engine, subject: EvalModel, plan: Plan, generation: Any,
            candidates: int, hits: float | None) -> MemoryMeasured:
    """The fact-dependent turns' replies with memory and without, and hits@1 without memory. Every
    example without a memory block keys the same with memory off, so only those with one cost."""
    facts = plan.facts.examples if plan.facts else []
    has_memory = bool(subject.fmt.memory)
    on = _replies(engine, subject, facts, generation, candidates) if has_memory else None
    off = _replies(engine, subject, [without_memory(e) for e in facts], generation, candidates)
    hits_off = _hits(model, tokenizer, subject, [without_memory(e) for e in plan.generated],
                     plan.distractors) if has_memory else hits
    return MemoryMeasured(on, off, hits_off)


def measure_model(model: Any, tokenizer: Any, subject: EvalModel, plan: Plan, engines: ReplyEngines, generation: Any,
                  candidates: int, generate: bool, clock: Clock, *, memory: bool = False) -> Measured:
    """The subject's figures on `plan`; with `memory`, its memory measurements too (on the same
    engine, so a CTranslate2 export is activated once)."""
    engine = _Engine(engines, subject, model, clock)
    with subject.state():
        with clock.part("perplexity"):
            ppl = _perplexity(model, tokenizer, subject, plan)
        with clock.part("hits"):
            hits = _hits(model, tokenizer, subject, plan.generated, plan.distractors)
        with clock.part("generation"):
            replies = _replies(engine, subject, plan.generated, generation, candidates) if generate else None
        measured = None
        if memory:
            with clock.part("memory"):
                measured = _memory(model, tokenizer, engine, subject, plan, generation, candidates, hits)
    subject.cache.save()
    return Measured(ppl, hits, replies, measured)


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
