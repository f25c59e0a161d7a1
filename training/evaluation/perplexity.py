"""The likelihood of the owner's real replies: held-out examples as token rows with labels on the
reply only (like the training loss), and their negative log-likelihood under a model, per row (so
each example's figure can be cached) and in total. Perplexity is exp(total / tokens)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from training.data.dataset import DialogueExample

EVAL_BATCH = 4
Row = dict[str, list[int]]


def encode_example(tokenizer: Any, fmt: Any, example: DialogueExample, max_length: int) -> Row | None:
    """An example → token ids with labels on the owner's reply only, or None when the format cannot
    build it: an owner-initiated example has no turn to answer (the live bot never opens a chat),
    and a row whose last turn alone exceeds `max_length` has no labels."""
    from model.prompt import PromptFormatError

    try:
        row = fmt.encode_example(tokenizer, example.dialogue, example.reply.text, max_length=max_length)
    except PromptFormatError:
        return None
    if not any(label != -100 for label in row["labels"]):
        return None
    return {"input_ids": list(row["input_ids"]), "labels": list(row["labels"])}


def encode_examples(tokenizer: Any, fmt: Any, examples: Sequence[DialogueExample], max_length: int) -> list[Row]:
    """The rows `encode_example` can build, in order."""
    return [row for e in examples if (row := encode_example(tokenizer, fmt, e, max_length)) is not None]


def row_nlls(model: Any, rows: Sequence[Row], pad_token_id: int) -> list[tuple[float, int]]:
    """Per row: the summed negative log-likelihood of its label tokens, and how many there were."""
    import torch
    import torch.nn.functional as F

    device = next(model.parameters()).device
    out: list[tuple[float, int]] = []
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
            nll = F.cross_entropy(logits[:, :-1].transpose(1, 2), shifted, ignore_index=-100, reduction="none")
            out.extend((float(nll[i].sum()), int((shifted[i] != -100).sum())) for i in range(len(batch)))
    return out


def reply_nll(model: Any, rows: Sequence[Row], pad_token_id: int) -> tuple[float, int]:
    """Summed negative log-likelihood of the label tokens of all rows, and how many there were."""
    per_row = row_nlls(model, rows, pad_token_id)
    return sum(n for n, _ in per_row), sum(c for _, c in per_row)
