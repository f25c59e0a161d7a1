"""Candidate replies, filtered and ranked: what the live bot, drafts and the panel's *Suggest* send.

`choose_reply` samples N candidates (one batched `generate`), drops the ones no owner would send
(pure filters below: empty, an echo of the partner's last turn, speaker labels or template tokens,
repeating itself), and picks the one the model itself finds most likely *as an answer to this
context*: the length-normalised log-likelihood of the reply given the prompt (mean log-probability
per reply token, end of turn included), scored for all candidates in one batched forward pass.
When every candidate is dropped the reply is empty (the bot then skips, never sends garbage).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from model.dialogue import Dialogue, join_messages
from model.generation import generate_replies

Reply = Sequence[str]
SCORE_BATCH = 8
REPEAT_NGRAM = 3

# Unicode "control pictures" (␞ ␝ …), template tokens like `<|im_end|>`, `<s>`, `[INST]`.
_CONTROL_PICTURES = re.compile("[\u2400-\u243F]")
_TEMPLATE_TOKEN = re.compile(r"<\|[^|<>]{1,40}\|>|</?s>|\[/?INST\]")
_NORMALISE = re.compile(r"[\W_]+")


@dataclass(frozen=True, slots=True)
class Candidate:
    """A candidate reply and why it was kept or dropped; `score` is set on kept ones after ranking."""

    messages: tuple[str, ...]
    dropped: str | None = None
    score: float | None = None


def _norm(text: str) -> str:
    return _NORMALISE.sub(" ", text.casefold()).strip()


def is_empty(reply: Reply) -> bool:
    return not any(m.strip() for m in reply)


def is_echo(reply: Reply, partner_messages: Sequence[str]) -> bool:
    """A message of the reply says (case and punctuation aside) what a message of the partner's last
    turn said, or the whole reply repeats the whole turn."""
    said = {n for m in partner_messages if (n := _norm(m))}
    if not said:
        return False
    mine = [n for m in reply if (n := _norm(m))]
    return any(n in said for n in mine) or (bool(mine) and " ".join(mine) == " ".join(_norm(m) for m in partner_messages))


def has_markers(reply: Reply, markers: Sequence[str]) -> bool:
    """Speaker labels (`Anna:` at a line start), template tokens, the format's own markers, or
    control-picture symbols like the message separator's ␞ leaking into a message."""
    for message in reply:
        if _CONTROL_PICTURES.search(message) or _TEMPLATE_TOKEN.search(message):
            return True
        if any(marker and marker in message for marker in markers if not marker.endswith(":")):
            return True
        lines = [line.strip() for line in message.splitlines()]
        if any(line.startswith(marker) for marker in markers if marker.endswith(":") for line in lines):
            return True
    return False


def repeats_itself(reply: Reply, n: int = REPEAT_NGRAM) -> bool:
    """The same message or line twice, or a word n-gram that occurs more than once."""
    lines = [n_ for m in reply for line in m.splitlines() if (n_ := _norm(line))]
    if len(lines) != len(set(lines)):
        return True
    tokens = _norm(" ".join(reply)).split()
    grams = Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))
    return any(count > 1 for count in grams.values())


def markers_for(fmt: Any, dialogue: Dialogue, tokenizer: Any = None) -> tuple[str, ...]:
    """Texts a reply to `dialogue` must not contain: `Label:` for every speaker, the format's end of
    turn and template markers, and the tokenizer's special tokens."""
    labels = {fmt.owner_label, fmt.partner_label, *(fmt.speaker_label(dialogue, t) for t in dialogue.turns)}
    specials = [t for t in getattr(tokenizer, "all_special_tokens", []) if t] if tokenizer is not None else []
    found = [f"{label}:" for label in sorted(labels) if label] + [fmt.end_of_turn, *fmt.stop_markers, *specials]
    return tuple(dict.fromkeys(m for m in found if m.strip()))


def drop_reason(reply: Reply, partner_messages: Sequence[str], markers: Sequence[str]) -> str | None:
    """Why a candidate must not be sent (None = keep)."""
    if is_empty(reply):
        return "empty"
    if is_echo(reply, partner_messages):
        return "echo"
    if has_markers(reply, markers):
        return "markers"
    if repeats_itself(reply):
        return "repeats"
    return None


def filter_candidates(replies: Sequence[Reply], partner_messages: Sequence[str], markers: Sequence[str]) -> list[Candidate]:
    """Every candidate with its drop reason; identical kept candidates are kept once."""
    out, seen = [], set()
    for reply in replies:
        messages = tuple(m.strip() for m in reply if m.strip())
        reason = drop_reason(messages, partner_messages, markers)
        if reason is None and messages in seen:
            reason = "duplicate"
        seen.add(messages)
        out.append(Candidate(messages, reason))
    return out


def last_partner_messages(dialogue: Dialogue) -> tuple[str, ...]:
    partner = [t for t in dialogue.turns if t.role == "partner"]
    return partner[-1].messages if partner else ()


# ---------------------------------------------------------------------- scoring (torch)

def score_rows(model: Any, rows: Sequence[dict[str, list[int]]], pad_token_id: int) -> list[float | None]:
    """Mean log-probability of each row's label tokens (None for a row without any), batched."""
    import torch

    device = next(model.parameters()).device
    scores: list[float | None] = []
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(rows), SCORE_BATCH):
            batch = rows[start:start + SCORE_BATCH]
            width = max(len(r["input_ids"]) for r in batch) if batch else 0
            if width < 2:
                scores.extend(None for _ in batch)
                continue
            ids = torch.full((len(batch), width), pad_token_id, dtype=torch.long)
            labels = torch.full((len(batch), width), -100, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for i, r in enumerate(batch):
                n = len(r["input_ids"])
                ids[i, :n] = torch.tensor(r["input_ids"])
                labels[i, :n] = torch.tensor(r["labels"])
                mask[i, :n] = 1
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
            target = labels[:, 1:].to(device)
            logprobs = torch.log_softmax(logits[:, :-1], dim=-1)
            picked = logprobs.gather(-1, target.clamp(min=0).unsqueeze(-1)).squeeze(-1)
            valid = target != -100
            sums, counts = (picked * valid).sum(-1), valid.sum(-1)
            for s, c in zip(sums.tolist(), counts.tolist()):
                scores.append(s / c if c else None)
    return scores


def pad_id(tokenizer: Any) -> int:
    pad = tokenizer.pad_token_id
    return pad if pad is not None else tokenizer.eos_token_id


def score_replies(model: Any, tokenizer: Any, fmt: Any, pairs: Sequence[tuple[Dialogue, Reply]],
                  max_length: int | None = None) -> list[float | None]:
    """Length-normalised log-likelihood of each reply given its dialogue, encoded exactly like a
    training row (`PromptFormat.encode_example`), in batches."""
    rows = [fmt.encode_example(tokenizer, d, join_messages(list(r)), max_length=max_length) for d, r in pairs]
    return score_rows(model, rows, pad_id(tokenizer))


def rank(model: Any, tokenizer: Any, fmt: Any, dialogue: Dialogue, candidates: Sequence[Candidate]) -> list[Candidate]:
    """Kept candidates, best first, with their scores (dropped ones are left out)."""
    kept = [c for c in candidates if c.dropped is None]
    if len(kept) < 2:
        return kept
    scores = score_replies(model, tokenizer, fmt, [(dialogue, c.messages) for c in kept])
    scored = [Candidate(c.messages, None, s) for c, s in zip(kept, scores)]
    return sorted(scored, key=lambda c: float("-inf") if c.score is None else c.score, reverse=True)


def choose_replies(
    model: Any, tokenizer: Any, fmt: Any, dialogue: Dialogue, gen: Any, n_candidates: int, n: int = 1,
    *, should_stop: Callable[[], bool] | None = None,
) -> list[list[str]]:
    """Up to `n` replies: `max(n, n_candidates)` samples, filtered, ranked best first. The list may
    be shorter than `n` (all dropped → `[[]]`, one empty reply)."""
    sampled = generate_replies(model, tokenizer, fmt, dialogue, gen, max(n, n_candidates), should_stop=should_stop)
    candidates = filter_candidates(sampled, last_partner_messages(dialogue), markers_for(fmt, dialogue, tokenizer))
    ranked = rank(model, tokenizer, fmt, dialogue, candidates)
    return [list(c.messages) for c in ranked[:n]] or [[]]
