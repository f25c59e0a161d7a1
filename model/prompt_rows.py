"""Training rows in the one prompt format (`PromptFormat.encode_example`, `encode_conversation`):
token ids and labels, the prompt's tokens exactly those serving feeds the model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from model.context_window import drop_oldest_turns
from model.dialogue import Dialogue
from model.prompt import IGNORE_INDEX, PromptFormat, PromptFormatError


def example_row(
    fmt: PromptFormat, tokenizer: Any, dialogue: Dialogue, reply: str, max_length: int | None = None
) -> dict[str, list[int]]:
    """A training row: prompt + reply tokens; labels are -100 except the reply and its end of turn.

    Over `max_length`, recollections of memory go first, then the oldest context turns (the
    reply never does; the rule of `model.context_window`). If even the last turn alone does not
    fit, the row is empty (callers skip rows without labels).
    """
    reply_ids = list(tokenizer.encode(fmt.reply_text(reply), add_special_tokens=False))
    if max_length is None:
        prompt_ids = fmt.encode_prompt(tokenizer, dialogue)
    else:
        fitted = drop_oldest_turns(fmt, tokenizer, dialogue, max_length - len(reply_ids))
        if fitted is None:
            return {"input_ids": [], "labels": [], "attention_mask": []}
        prompt_ids = fitted.prompt_ids
    input_ids = prompt_ids + reply_ids
    return {
        "input_ids": input_ids,
        "labels": [IGNORE_INDEX] * len(prompt_ids) + reply_ids,
        "attention_mask": [1] * len(input_ids),
    }


def conversation_row(
    fmt: PromptFormat, tokenizer: Any, dialogue: Dialogue, labelled: Sequence[int], max_length: int | None = None
) -> tuple[dict[str, list[int]], tuple[int, ...]]:
    """A whole-conversation training row and the labelled turns it fully covers.

    `labelled` are indices of owner turns in `dialogue.turns`; each gets labels on exactly its
    reply tokens (`fmt.reply_text`: its text and end of turn); system text, names and partner
    turns stay -100. The row is cut at each labelled turn's serve-time prompt, so
    `fmt.encode_prompt(dialogue up to turn i)` is a token prefix of the row, and it ends with the
    last labelled reply. Over `max_length` the row is cut from the right: turns cut short are
    not reported covered, except the first labelled turn, which keeps its labels when its reply
    starts inside (a reply too long for `max_length` is truncated and still learned).
    The memory block is part of the head every prompt shares, so the row keeps it whole (the
    window's turns are chosen to fit around it). Raises PromptFormatError when the template
    rewrites earlier turns (then the text of a prompt is no prefix of the conversation)."""
    order = sorted(set(labelled))
    for i in order:
        if not 0 <= i < len(dialogue.turns) or dialogue.turns[i].role != "owner":
            raise PromptFormatError(f"turn {i} is not an owner turn of this dialogue")
    if not order:
        return {"input_ids": [], "labels": [], "attention_mask": []}, ()
    full = fmt.render_conversation(replace(dialogue, turns=dialogue.turns[: order[-1] + 1]))
    ids: list[int] = []
    labels: list[int] = []
    spans: list[tuple[int, int, int]] = []  # (turn, first label position, end position)
    cursor = 0
    for i in order:
        prompt = fmt._render_prompt(replace(dialogue, turns=dialogue.turns[:i]))
        reply = fmt.reply_text(dialogue.turns[i].text)
        if not full.startswith(prompt, 0) or len(prompt) < cursor or not full.startswith(reply, len(prompt)):
            raise PromptFormatError("the chat template does not keep earlier turns verbatim")
        if cursor == 0:
            head = fmt._encode_prompt_text(tokenizer, prompt)
        else:
            head = list(tokenizer.encode(full[cursor:len(prompt)], add_special_tokens=False))
        ids += head
        labels += [IGNORE_INDEX] * len(head)
        reply_ids = list(tokenizer.encode(reply, add_special_tokens=False))
        spans.append((i, len(ids), len(ids) + len(reply_ids)))
        ids += reply_ids
        labels += reply_ids
        cursor = len(prompt) + len(reply)
    if max_length is not None and len(ids) > max_length:
        ids, labels = ids[:max_length], labels[:max_length]
    covered = tuple(
        i for n, (i, start, end) in enumerate(spans) if end <= len(ids) or (n == 0 and start < len(ids))
    )
    return {"input_ids": ids, "labels": labels, "attention_mask": [1] * len(ids)}, covered
