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

def score_continuations(model: Any, prompt_ids: Sequence[int], continuations: Sequence[Sequence[int]]) -> list[float | None]:
    """Mean log-probability per token of each continuation after one shared prompt.

    The prompt goes through the model once; its key/value cache is repeated for the continuations,
    which are scored together in one batched forward pass (right-padded, masked)."""
    import torch

    scores: list[float | None] = [None] * len(continuations)
    todo = [i for i, c in enumerate(continuations) if c]
    if not todo or not prompt_ids:
        return scores
    device = next(model.parameters()).device
    model.eval()
    with torch.inference_mode():
        prompt = torch.tensor([list(prompt_ids)], dtype=torch.long, device=device)
        out = model(input_ids=prompt, attention_mask=torch.ones_like(prompt), use_cache=True)
        first = torch.log_softmax(out.logits[0, -1].float(), dim=-1)
        cache = out.cache
        cache.batch_repeat_interleave(len(todo))
        width = max(len(continuations[i]) for i in todo)
        ids = torch.zeros((len(todo), width), dtype=torch.long, device=device)
        valid = torch.zeros((len(todo), width), dtype=torch.bool, device=device)
        for row, i in enumerate(todo):
            ids[row, :len(continuations[i])] = torch.tensor(list(continuations[i]), device=device)
            valid[row, :len(continuations[i])] = True
        mask = torch.cat([torch.ones((len(todo), len(prompt_ids)), dtype=torch.long, device=device), valid.long()], dim=1)
        logits = model(input_ids=ids, attention_mask=mask, cache=cache, use_cache=True).logits.float()
        logprobs = torch.log_softmax(logits[:, :-1], dim=-1)
        later = logprobs.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1) * valid[:, 1:]
        totals = first[ids[:, 0]] + later.sum(-1)
        for row, i in enumerate(todo):
            scores[i] = float(totals[row]) / len(continuations[i])
    return scores


def score_replies(model: Any, tokenizer: Any, fmt: Any, dialogue: Dialogue, replies: Sequence[Reply]) -> list[float | None]:
    """Length-normalised log-likelihood of each reply given `dialogue`: the reply's tokens (end of
    turn included) after exactly the prompt serving feeds, as in a training row."""
    prompt_ids = fmt.encode_prompt(tokenizer, dialogue)
    continuations = [tokenizer.encode(fmt.reply_text(join_messages(list(r))), add_special_tokens=False) for r in replies]
    return score_continuations(model, prompt_ids, continuations)


def rank(model: Any, tokenizer: Any, fmt: Any, dialogue: Dialogue, candidates: Sequence[Candidate]) -> list[Candidate]:
    """Kept candidates, best first, with their scores (dropped ones are left out)."""
    kept = [c for c in candidates if c.dropped is None]
    if len(kept) < 2:
        return kept
    scores = score_replies(model, tokenizer, fmt, dialogue, [c.messages for c in kept])
    scored = [Candidate(c.messages, None, s) for c, s in zip(kept, scores, strict=True)]
    return sorted(scored, key=lambda c: float("-inf") if c.score is None else c.score, reverse=True)


def choose_replies(
    model: Any, tokenizer: Any, fmt: Any, dialogue: Dialogue, gen: Any, n_candidates: int, n: int = 1,
    *, should_stop: Callable[[], bool] | None = None,
) -> list[list[str]]:
    """Up to `n` replies: `max(n, n_candidates)` samples, filtered, ranked best first. The list may
    be shorter than `n` (all dropped → `[[]]`, one empty reply).

    The rhythm is sampled, the content is ranked: the first kept sample's message count is the
    model's own draw of "one message or several", and the ranking picks the best reply among those
    with that count (`keep_sampled_rhythm`). Ranking across counts would favour one short message,
    whose mean per-token likelihood is higher, and erase the owner's rhythm."""
    sampled = generate_replies(model, tokenizer, fmt, dialogue, gen, max(n, n_candidates), should_stop=should_stop)
    candidates = filter_candidates(sampled, last_partner_messages(dialogue), markers_for(fmt, dialogue, tokenizer))
    ranked = keep_sampled_rhythm(candidates, rank(model, tokenizer, fmt, dialogue, candidates))
    return [list(c.messages) for c in ranked[:n]] or [[]]


def keep_sampled_rhythm(candidates: Sequence[Candidate], ranked: Sequence[Candidate]) -> list[Candidate]:
    """`ranked` reordered so the replies with the first kept sample's message count come first (in
    rank order), then the others: pure, so the choice of rhythm stays an unbiased sample."""
    kept = [c for c in candidates if c.dropped is None]
    if not kept:
        return list(ranked)
    count = len(kept[0].messages)
    return [c for c in ranked if len(c.messages) == count] + [c for c in ranked if len(c.messages) != count]
