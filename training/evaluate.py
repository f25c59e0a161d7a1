"""Evaluation after every run, on the held-out split (the most recent examples, never trained on).

Perplexity of the owner's real replies (only reply tokens are scored, like the training loss) under
the base model, the currently promoted adapter and the new one; style metrics of generated vs real
replies; a few side-by-side samples. Heavy imports stay inside the functions.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.dataset import DialogueExample
from training.style import compare_style

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


def _pad_id(tokenizer: Any) -> int:
    pad = tokenizer.pad_token_id
    return pad if pad is not None else tokenizer.eos_token_id


def evaluate_adapter(
    peft_model: Any,
    tokenizer: Any,
    fmt: Any,
    heldout: Sequence[DialogueExample],
    config: Any,
    generation: Any,
    reference: Reference | None,
) -> dict[str, Any]:
    """The evaluation report for the adapter currently active in `peft_model` (named `default`)."""
    from model.prompt import PromptFormat

    answerable = [e for e in heldout if e.dialogue.turns]  # replies to someone (what is served)
    examples = sorted(answerable, key=lambda e: e.date)[-config.eval_max_examples:]
    pad = _pad_id(tokenizer)
    rows = encode_examples(tokenizer, fmt, examples, config.max_length)
    report: dict[str, Any] = {"heldout_examples": len(examples), "scored_tokens": sum(sum(label != -100 for label in r["labels"]) for r in rows)}
    perplexities: dict[str, float | None] = {"new": perplexity(peft_model, rows, pad)}
    with peft_model.disable_adapter():
        perplexities["base"] = perplexity(peft_model, rows, pad)
    perplexities["promoted"] = None
    if reference is not None:
        try:
            ref_fmt = PromptFormat.load(reference.path)
            ref_rows = encode_examples(tokenizer, ref_fmt, examples, config.max_length)
            peft_model.load_adapter(str(reference.path), adapter_name="promoted")
            peft_model.set_adapter("promoted")
            perplexities["promoted"] = perplexity(peft_model, ref_rows, pad)
        except Exception as exc:  # an incompatible or broken old adapter must not fail the new run
            log.warning("could not score the promoted adapter %s: %s", reference.adapter_id, exc)
            report["promoted_error"] = f"{type(exc).__name__}: {exc}"
        finally:
            peft_model.set_adapter("default")
            if "promoted" in getattr(peft_model, "peft_config", {}):
                peft_model.delete_adapter("promoted")
        report["promoted_adapter"] = reference.adapter_id
    report["perplexity"] = perplexities
    report.update(style_report(peft_model, tokenizer, fmt, examples[-config.eval_generate:] if config.eval_generate else [], config, generation))
    return report


def style_report(model: Any, tokenizer: Any, fmt: Any, examples: Sequence[DialogueExample], config: Any, generation: Any) -> dict[str, Any]:
    """Generate one reply per example; compare style with the real replies; keep a few samples."""
    from model.generation import generate_replies

    generated: list[list[str]] = []
    for example in examples:
        candidates = generate_replies(model, tokenizer, fmt, example.dialogue, generation, n=1)
        generated.append(list(candidates[0]) if candidates else [])
    real = [list(e.reply.messages) for e in examples]
    samples = [
        {
            "context": [{"role": t.role, "speaker": t.speaker, "messages": list(t.messages)} for t in e.dialogue.turns[-3:]],
            "real": r,
            "generated": g,
        }
        for e, r, g in list(zip(examples, real, generated, strict=True))[-config.eval_samples:] if config.eval_samples
    ]
    return {"style": compare_style(generated, real) if examples else {}, "samples": samples}
