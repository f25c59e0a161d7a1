"""Evaluation after every run, on the held-out split (the most recent examples, never trained on).

Under the base model, the adapter served when the run started (the reference) and the new one:
- perplexity of the owner's real replies (only reply tokens are scored, like the training loss);
- hits@1 on the last `eval_generate` held-out contexts (`training.hits`; forward passes only).
The new adapter and the served model — the promoted adapter when it could be loaded, else the base
model — also *generate* a reply for those contexts through the live path (`model.candidates`:
sampled, filtered, ranked), and each is compared with the owner's real replies: style metrics
(`training.style`) and the blind judge (`training.judge`). The gate compares the new adapter with
the served model measured here, on the very same contexts, rather than reusing figures stored with
the served adapter: held-out sets move with every import, so stored figures are rarely comparable,
and generating for one more model costs about as much as for the new one (measured and reported as
`generation_seconds`). A few side-by-side samples are kept. Heavy imports stay inside the functions.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.candidates import last_partner_messages, markers_for
from training.dataset import DialogueExample
from training.hits import hits_at_1, sample_distractors
from training.judge import blind_judge_accuracy
from training.report import (
    EvaluationReport,
    GeneratedStyle,
    PerModel,
    Sample,
    SampleTurn,
)
from training.style import Lexicon, ReplyContext, compare_style

log = logging.getLogger(__name__)
EVAL_BATCH = 4


@dataclass(frozen=True, slots=True)
class Reference:
    """The adapter served now, to compare against: its directory and id."""

    adapter_id: str
    path: Path


def encode_examples(tokenizer: Any, fmt: Any, examples: Sequence[DialogueExample], max_length: int) -> list[dict[str, list[int]]]:
    """Examples → token ids with labels on the owner's reply only (the prompt format decides how).

    Rows the format cannot build are left out: an owner-initiated example has no turn to answer
    (the live bot never opens a chat, so the format has no prompt for that), and a row whose last
    turn alone exceeds `max_length` comes back empty."""
    from model.prompt import PromptFormatError

    rows = []
    for example in examples:
        try:
            row = fmt.encode_example(tokenizer, example.dialogue, example.reply.text, max_length=max_length)
        except PromptFormatError:
            continue
        if any(label != -100 for label in row["labels"]):
            rows.append({"input_ids": list(row["input_ids"]), "labels": list(row["labels"])})
    return rows


def reply_nll(model: Any, rows: Sequence[dict[str, list[int]]], pad_token_id: int) -> tuple[float, int]:
    """Summed negative log-likelihood of the label tokens, and how many there were."""
    import torch
    import torch.nn.functional as F

    device = next(model.parameters()).device
    total, count = 0.0, 0
    model.eval()
    with torch.no_grad():
        for start in range(0, len(rows), EVAL_BATCH):
            batch = rows[start:start + EVAL_BATCH]
            width = max(len(r["input_ids"]) for r in batch)
            ids = torch.full((len(batch), width), pad_token_id, dtype=torch.long)
            labels = torch.full((len(batch), width), -100, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for i, r in enumerate(batch):
                n = len(r["input_ids"])
                ids[i, :n] = torch.tensor(r["input_ids"])
                labels[i, :n] = torch.tensor(r["labels"])
                mask[i, :n] = 1
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
            shifted = labels[:, 1:].to(device)
            nll = F.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)), shifted.reshape(-1), ignore_index=-100, reduction="sum")
            total += float(nll)
            count += int((shifted != -100).sum())
    return total, count


def perplexity(model: Any, rows: Sequence[dict[str, list[int]]], pad_token_id: int) -> float | None:
    """exp(mean NLL per reply token); None without any scored token."""
    total, count = reply_nll(model, rows, pad_token_id)
    return math.exp(total / count) if count else None


def lexicon_for(train: Sequence[DialogueExample]) -> Lexicon:
    """The training corpus's vocabulary and the owner's most frequent words."""
    owner = [m for e in train for m in e.reply.messages]
    partner = [m for e in train for t in e.dialogue.turns for m in t.messages]
    return Lexicon.from_texts(owner, partner)


@dataclass(frozen=True, slots=True)
class EvalInputs:
    """What the evaluation needs besides the models."""

    heldout: Sequence[DialogueExample]
    lexicon: Lexicon
    reply_pool: Sequence[tuple[str, ...]]
    """Owner replies to draw hits@1 distractors from (every example's reply)."""
    candidates: int = 4
    """Candidates per generated reply (the live setting)."""


@dataclass(frozen=True, slots=True)
class _Measured:
    perplexity: float | None
    hits: float | None
    generated: list[list[str]] | None
    seconds: float


def _measure(model: Any, tokenizer: Any, fmt: Any, rows: Sequence[dict[str, list[int]]],
             hit_contexts: Sequence[Any], gen_examples: Sequence[DialogueExample], generation: Any,
             candidates: int, generate: bool) -> _Measured:
    from model.candidates import choose_replies
    from model.torch_engine import TorchReplies

    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    ppl = perplexity(model, rows, pad)
    hits = hits_at_1(model, tokenizer, fmt, hit_contexts)
    started = time.perf_counter()
    engine = TorchReplies(model, tokenizer)
    generated = [choose_replies(engine, fmt, e.dialogue, generation, candidates)[0] for e in gen_examples] if generate else None
    return _Measured(ppl, hits, generated, time.perf_counter() - started)


@contextmanager
def _reference_adapter(peft_model: Any, reference: Reference) -> Iterator[None]:
    peft_model.load_adapter(str(reference.path), adapter_name="promoted")
    try:
        peft_model.set_adapter("promoted")
        yield
    finally:
        peft_model.set_adapter("default")
        if "promoted" in getattr(peft_model, "peft_config", {}):
            peft_model.delete_adapter("promoted")


def evaluate_adapter(
    peft_model: Any,
    tokenizer: Any,
    fmt: Any,
    inputs: EvalInputs,
    config: Any,
    generation: Any,
    reference: Reference | None,
) -> EvaluationReport:
    """The evaluation report for the adapter currently active in `peft_model` (named `default`)."""
    from model.prompt import PromptFormat

    answerable = [e for e in inputs.heldout if e.dialogue.turns]  # replies to someone (what is served)
    ordered = sorted(answerable, key=lambda e: e.date)
    examples = ordered[-config.eval_max_examples:]
    gen_examples = ordered[-config.eval_generate:] if config.eval_generate else []
    hit_contexts = [(e.dialogue, e.reply.messages, sample_distractors(e.reply.messages, inputs.reply_pool, i))
                    for i, e in enumerate(gen_examples)]
    rows = encode_examples(tokenizer, fmt, examples, config.max_length)
    scored = sum(sum(label != -100 for label in r["labels"]) for r in rows)
    def measure(model: Any, f: Any, r: Sequence[dict[str, list[int]]], generate: bool) -> _Measured:
        return _measure(model, tokenizer, f, r, hit_contexts, gen_examples, generation, inputs.candidates, generate)

    new = measure(peft_model, fmt, rows, True)
    with peft_model.disable_adapter():
        base = measure(peft_model, fmt, rows, reference is None)
    promoted: _Measured | None = None
    error = None
    if reference is not None:
        try:
            ref_fmt = PromptFormat.load(reference.path)
            with _reference_adapter(peft_model, reference):
                promoted = measure(peft_model, ref_fmt, encode_examples(tokenizer, ref_fmt, examples, config.max_length), True)
        except Exception as exc:  # noqa: BLE001 — an incompatible or broken old adapter must not fail the new run
            log.warning("could not score the promoted adapter %s: %s", reference.adapter_id, exc)
            error = f"{type(exc).__name__}: {exc}"
    served, label = (promoted, f"adapter {reference.adapter_id}") if promoted is not None and reference else (base, "base model")
    if served.generated is None:  # the promoted adapter failed after the base was measured without generating
        with peft_model.disable_adapter():
            served = measure(peft_model, fmt, rows, True)
        label = "base model"

    real = [list(e.reply.messages) for e in gen_examples]
    contexts = [ReplyContext(last_partner_messages(e.dialogue), markers_for(fmt, e.dialogue, tokenizer)) for e in gen_examples]

    def judged(name: str, generated: list[list[str]] | None) -> GeneratedStyle | None:
        if not gen_examples or generated is None:
            return None
        return GeneratedStyle(name, blind_judge_accuracy(real, generated), compare_style(generated, real, contexts, inputs.lexicon))

    samples = tuple(
        Sample(tuple(SampleTurn(t.role, t.speaker, t.messages) for t in e.dialogue.turns[-3:]), tuple(r), tuple(g))
        for e, r, g in list(zip(gen_examples, real, new.generated or [], strict=False))[-config.eval_samples:] if config.eval_samples
    )
    log.info("evaluation: %s held-out examples, %s generated in %.1fs (new adapter), %.1fs (%s)",
             len(examples), len(gen_examples), new.seconds, served.seconds, label)
    return EvaluationReport(
        heldout_examples=len(examples), scored_tokens=scored,
        perplexity=PerModel(base.perplexity, promoted.perplexity if promoted else None, new.perplexity),
        hits_at_1=PerModel(base.hits, promoted.hits if promoted else None, new.hits),
        generated=len(gen_examples), generation_seconds=round(new.seconds, 2),
        new=judged("new adapter", new.generated), reference=judged(label, served.generated),
        samples=samples, promoted_adapter=reference.adapter_id if reference else None, promoted_error=error,
    )
