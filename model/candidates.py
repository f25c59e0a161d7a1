"""Candidate replies, filtered and ranked: what the live bot, drafts and the panel's *Suggest* send.

`choose` samples N candidates (one batched generation), drops the ones no owner would send
(pure filters below: empty, an echo of the partner's last turn, speaker labels or template tokens,
repeating itself), and picks the one whose likelihood owes most to *this context*: the
length-normalised log-likelihood of the reply given the prompt (mean log-probability per reply
token, end of turn included), minus half of the same without the conversation (`context_gain`).
Both are scored for all candidates in one batched pass each. The model is a `ReplyEngine`: torch
(GPU serving) or CTranslate2 (CPU serving); training's evaluation judges replies chosen here.
When every candidate is dropped the reply is empty (the bot then skips, never sends garbage).
It returns the memory the prompt showed with the replies (`ChosenReplies`): what "why this reply"
shows and the reply log records.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from model.context_window import fit_dialogue, reply_budget
from model.dialogue import Dialogue, Recollection, Turn, join_messages

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


@dataclass(frozen=True, slots=True)
class ChosenReplies:
    """Replies best first, and what of the dialogue's memory their prompt showed ("why this reply")."""

    replies: list[list[str]]
    """Up to the `n` asked for; `[[]]` (one empty reply) when every candidate was dropped."""
    memory: tuple[Recollection, ...] = ()
    """The recollections the prompt held: the dialogue's memory left after the cut to the window
    (`model.context_window`); none when the format has no memory block. What the reply log and
    drafts record (as ids)."""
    format_memory: bool = False
    """The prompt format has a memory block (an adapter trained with memory); without one no memory
    reaches the prompt, whatever was recalled."""

    @classmethod
    def shown(cls, replies: list[list[str]], fmt: Any, dialogue: Dialogue) -> ChosenReplies:
        """`replies` to `dialogue` as its prompt was rendered in `fmt` (the one rule of what memory
        a prompt showed: the dialogue's, when the format renders memory at all)."""
        return cls(replies, dialogue.memory if fmt.memory else (), bool(fmt.memory))


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
    whole_echo = bool(mine) and " ".join(mine) == " ".join(_norm(m) for m in partner_messages)
    return any(n in said for n in mine) or whole_echo


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


def filter_candidates(
    replies: Sequence[Reply], partner_messages: Sequence[str], markers: Sequence[str]
) -> list[Candidate]:
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


# ---------------------------------------------------------------------- engine-agnostic choice

class ReplyEngine(Protocol):
    """A loaded model as the choice needs it: sampling and scoring replies in one prompt format.
    Implemented by `model.torch_engine.TorchReplies` and `model.ct2_engine.Ct2Engine`."""

    tokenizer: Any
    context_window: int
    """Positions the model reads, prompt and reply together (`model.context_window`)."""

    def sample(self, fmt: Any, dialogue: Dialogue, gen: Any, n: int,
               should_stop: Callable[[], bool] | None = None) -> list[list[str]]:
        """`n` sampled replies to the dialogue's last turn (see `model.generation.generate_replies`)."""

    def score(self, fmt: Any, dialogue: Dialogue, replies: Sequence[Reply]) -> list[float | None]:
        """Length-normalised log-likelihood of each reply given the dialogue: the mean log-probability
        per reply token (end of turn included) after exactly the prompt serving feeds."""


def reply_token_ids(tokenizer: Any, fmt: Any, replies: Sequence[Reply]) -> list[list[int]]:
    """Each reply's tokens as a training row ends them: the messages, then the end of turn."""
    return [tokenizer.encode(fmt.reply_text(join_messages(list(r))), add_special_tokens=False) for r in replies]


def rank(engine: ReplyEngine, fmt: Any, dialogue: Dialogue, candidates: Sequence[Candidate]) -> list[Candidate]:
    """Kept candidates, best first, with their scores (dropped ones are left out)."""
    kept = [c for c in candidates if c.dropped is None]
    if len(kept) < 2:
        return kept
    scores = engine.score(fmt, dialogue, [c.messages for c in kept])
    scored = [Candidate(c.messages, None, s) for c, s in zip(kept, scores, strict=True)]
    return sorted(scored, key=lambda c: float("-inf") if c.score is None else c.score, reverse=True)


CONTEXT_FREE_WEIGHT = 0.5
"""How much of a reply's likelihood without the conversation is taken off its likelihood in it.

Ranking by the likelihood in context alone favours what is likely anywhere: short, plain,
generic replies. Measured with `bench/selection_bench.py` on the bundled sample (an adapter of 1.2
epochs; 79 held-out contexts x 16 samplings of 4 candidates, two runs; every rule on the same
samples; 0.5 = indistinguishable), against the rule served before (the best in-context score among
replies with the first sample's message count):

    rule                       blind judge  style distance  overlap  multi-message  invented
    in context (served before)       0.641           0.223    0.052            55 %      20 %
    in context, any count            0.661           0.220    0.060            53 %      13 %
    first kept sample                0.619           0.221    0.044            55 %      26 %
    gain, weight 0.5 (this)          0.602           0.210    0.064            47 %      20 %
    gain, weight 1                   0.578           0.229    0.045            44 %      31 %

(owner: multi-message 49 %, invented 0 %; overlap = character 3-gram F1 with the owner's real reply,
second run only.) Weight 0.5 improves every figure on the rule served before; weight 1 fools the
judge most but invents words in 31 % of the replies and answers further from what the owner said.
The bundled owner never ends a message with ")", so that habit could not be measured here."""


def context_free(dialogue: Dialogue) -> Dialogue:
    """The dialogue's chat header with one empty partner turn: the prompt a reply is scored against
    to tell how much of its likelihood the conversation gives it."""
    return Dialogue((Turn("partner", ("",)),), dialogue.partner_name, dialogue.relationship, dialogue.is_group)


def context_gain(in_context: float | None, without_context: float | None) -> float:
    """The selection score: `in_context - CONTEXT_FREE_WEIGHT * without_context` (-inf unscored)."""
    if in_context is None:
        return float("-inf")
    return in_context - CONTEXT_FREE_WEIGHT * (without_context or 0.0)


def by_context_gain(scored: Sequence[Candidate], without_context: Sequence[float | None]) -> list[Candidate]:
    """Candidates scored in context (`rank`), best first by `context_gain`, which becomes their
    score; pure. Ties keep their order."""
    gained = [Candidate(c.messages, None, context_gain(c.score, free))
              for c, free in zip(scored, without_context, strict=True)]
    return sorted(gained, key=lambda c: c.score if c.score is not None else float("-inf"), reverse=True)


def choose(
    engine: ReplyEngine, fmt: Any, dialogue: Dialogue, gen: Any, n_candidates: int, n: int = 1,
    *, should_stop: Callable[[], bool] | None = None,
) -> ChosenReplies:
    """Up to `n` replies: `max(n, n_candidates)` samples, filtered, best first by `context_gain`,
    with the memory their prompt showed. The list may be shorter than `n` (all dropped → `[[]]`,
    one empty reply). The dialogue is first cut to the model's window less the reply's budget, and
    to `gen.max_prompt_tokens`, newest turns kept (`model.context_window`): recollections go first."""
    budget = min(engine.context_window - reply_budget(fmt, engine.tokenizer, gen.max_new_tokens),
                 gen.max_prompt_tokens)
    dialogue = fit_dialogue(fmt, engine.tokenizer, dialogue, budget).dialogue
    sampled = engine.sample(fmt, dialogue, gen, max(n, n_candidates), should_stop)
    markers = markers_for(fmt, dialogue, engine.tokenizer)
    candidates = filter_candidates(sampled, last_partner_messages(dialogue), markers)
    ranked = rank(engine, fmt, dialogue, candidates)
    if len(ranked) >= 2:
        ranked = by_context_gain(ranked, engine.score(fmt, context_free(dialogue), [c.messages for c in ranked]))
    return ChosenReplies.shown([list(c.messages) for c in ranked[:n]] or [[]], fmt, dialogue)


def choose_replies(
    engine: ReplyEngine, fmt: Any, dialogue: Dialogue, gen: Any, n_candidates: int, n: int = 1,
    *, should_stop: Callable[[], bool] | None = None,
) -> list[list[str]]:
    """`choose`'s replies alone (evaluation and the benches, which need not know the memory shown)."""
    return choose(engine, fmt, dialogue, gen, n_candidates, n, should_stop=should_stop).replies
