"""The model's context window, and the one rule that fits a dialogue into it.

A prompt longer than the positions a model was built for is refused (CTranslate2 raised on an
`/api/generate` with 200 messages of 4,096 characters) or takes minutes to read (10 of them timed
out). So every reply's prompt is cut to the window less the reply's own budget (`choose_replies`),
and training rows are cut by the same rule (`PromptFormat.encode_example`): the oldest turns go
first. When the turn to answer alone is too long, serving keeps its newest end: its oldest messages
go, then the start of its oldest kept message, cut at a token boundary (training drops the row
instead: a cut turn is no example of the owner's context).

Memory (an adapter trained with it, `PromptFormat.memory`) counts toward the cap, and goes before
any turn: recollections are dropped oldest first while that lets every turn fit; when the turns
alone are over, all memory goes and turns are cut as without it. The conversation's own turns are
what the reply answers; memory is a supplement already held to its own budget by retrieval, so
this is the safety net, not the usual path. `Recollection` carries no relevance score (retrieval
returns them oldest first), so age is the order they go in.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from model.dialogue import MESSAGE_SEPARATOR, Dialogue, Turn

if TYPE_CHECKING:
    from model.prompt import PromptFormat

log = logging.getLogger(__name__)

# Config names of the window, GPT-2 style models call it `n_positions`.
_WINDOW_FIELDS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length")
# Tokenizers without a known limit report a huge sentinel as `model_max_length`.
_NO_LIMIT = 10**8


class ContextWindowError(ValueError):
    """The model's window has no room for even the shortest prompt and a reply."""


@dataclass(frozen=True, slots=True)
class FittedPrompt:
    """A dialogue as it fits the window, and its prompt tokens."""

    dialogue: Dialogue
    prompt_ids: list[int]


def context_window(config: Any, tokenizer: Any = None) -> int:
    """How many positions the model reads, prompt and reply together: its config's window, else
    the tokenizer's `model_max_length`."""
    for name in _WINDOW_FIELDS:
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and 0 < limit < _NO_LIMIT:
        return limit
    raise ContextWindowError("the model's config names no context window (max_position_embeddings)")


def reply_budget(fmt: PromptFormat, tokenizer: Any, max_new_tokens: int) -> int:
    """Positions kept free for the reply: what may be generated, plus the end of turn that scoring
    appends (`model.candidates.reply_token_ids`)."""
    return max_new_tokens + len(tokenizer.encode(fmt.reply_text(""), add_special_tokens=False))


def drop_oldest_turns(fmt: PromptFormat, tokenizer: Any, dialogue: Dialogue, max_tokens: int) -> FittedPrompt | None:
    """The dialogue with the fewest oldest recollections, then turns, dropped so its prompt has at
    most `max_tokens` tokens (the module's rule); None when even the turn to answer alone does not
    fit. A format without memory keeps `dialogue.memory` as it is (it renders none of it)."""
    if not (fmt.memory and dialogue.memory):
        return _drop_oldest_turns(fmt, tokenizer, dialogue, max_tokens)
    bare = _drop_oldest_turns(fmt, tokenizer, replace(dialogue, memory=()), max_tokens)
    if bare is None or len(bare.dialogue.turns) < len(dialogue.turns):
        return bare
    for start in range(len(dialogue.memory)):
        shown = replace(dialogue, memory=dialogue.memory[start:])
        ids = fmt.encode_prompt(tokenizer, shown)
        if len(ids) <= max_tokens:
            return FittedPrompt(shown, ids)
    return bare


def _drop_oldest_turns(fmt: PromptFormat, tokenizer: Any, dialogue: Dialogue, max_tokens: int) -> FittedPrompt | None:
    """`drop_oldest_turns` for the turns alone (memory as given).

    A first guess comes from each turn's own tokens, newest first, tokenising no more of a long
    history or a long turn than the budget takes (200 messages of 4,096 characters are ~0.8 M);
    exact prompt encodings then settle it (a prompt only shrinks as turns go, so the smallest
    fitting start is found by bisection)."""
    turns = dialogue.turns
    last = len(turns) - 1
    guess, used = last + 1, 0
    for i in range(last, -1, -1):
        used += len(_newest_tokens(tokenizer, turns[i].text, max_tokens - used))
        if used > max_tokens:
            break
        guess = i
    if guess > last:  # the turn's text alone is over the budget, before its label and end of turn
        return None

    def fitted(start: int) -> FittedPrompt | None:
        shown = replace(dialogue, turns=turns[start:])
        ids = fmt.encode_prompt(tokenizer, shown)
        return FittedPrompt(shown, ids) if len(ids) <= max_tokens else None

    best = fitted(guess)
    if best is not None:  # the guess may drop a turn too many (tokens merge across a turn's edges)
        while guess > 0 and (earlier := fitted(guess - 1)) is not None:
            guess, best = guess - 1, earlier
        return best
    low, high = guess + 1, last
    if low > high or (best := fitted(high)) is None:
        return None
    while low < high:  # `high` fits; is there a smaller start that does?
        middle = (low + high) // 2
        found = fitted(middle)
        if found is None:
            low = middle + 1
        else:
            high, best = middle, found
    return best


def fit_dialogue(fmt: PromptFormat, tokenizer: Any, dialogue: Dialogue, max_tokens: int) -> FittedPrompt:
    """The dialogue cut to at most `max_tokens` prompt tokens, newest end kept (the module's rule);
    `ContextWindowError` when not even a bare turn fits."""
    fitted = drop_oldest_turns(fmt, tokenizer, dialogue, max_tokens)
    if fitted is None:
        alone = replace(dialogue, turns=dialogue.turns[-1:], memory=() if fmt.memory else dialogue.memory)
        fitted = _cut_turn(fmt, tokenizer, alone, max_tokens)
    if fitted.dialogue != dialogue:
        log.info("prompt cut to the model's window: %s of %s turns and %s of %s recollections kept, %s tokens",
                 len(fitted.dialogue.turns), len(dialogue.turns), len(fitted.dialogue.memory), len(dialogue.memory),
                 len(fitted.prompt_ids))
    return fitted


def _cut_turn(fmt: PromptFormat, tokenizer: Any, dialogue: Dialogue, max_tokens: int) -> FittedPrompt:
    """The one turn of `dialogue` cut to its newest tokens so the prompt fits."""
    turn = dialogue.turns[-1]
    frame = len(fmt.encode_prompt(tokenizer, replace(dialogue, turns=(replace(turn, messages=("",)),))))
    if frame >= max_tokens:
        raise ContextWindowError(f"the model's window leaves {max_tokens} prompt tokens, a bare turn takes {frame}: "
                                 "lower max_new_tokens")
    keep = max_tokens - frame
    while True:
        newest = _newest_tokens(tokenizer, turn.text, keep)[-keep:]
        kept = _messages_of(tokenizer.decode(newest, skip_special_tokens=False))
        shown = replace(dialogue, turns=(Turn(turn.role, kept, turn.speaker, turn.date),))
        ids = fmt.encode_prompt(tokenizer, shown)
        if len(ids) <= max_tokens or keep <= 1:
            return FittedPrompt(shown, ids)
        keep = max(1, keep - (len(ids) - max_tokens))  # tokens merged differently at the edges


def _newest_tokens(tokenizer: Any, text: str, count: int) -> list[int]:
    """The ids of `text`'s newest `count` tokens and one more when it has more (so "more than
    `count`" shows), tokenising only as much of its end as that takes."""
    chars = 4 * max(count, 1) + 16
    while True:
        tail = text[-chars:] if chars < len(text) else text
        ids = tokenizer.encode(tail, add_special_tokens=False)
        if tail is text or len(ids) > count + 1:  # the first token of a tail may be cut: one spare
            return ids[-(count + 1):] if count >= 0 else ids[:1]
        chars *= 4


def _messages_of(text: str) -> tuple[str, ...]:
    """The messages of a turn's text cut at a token boundary (a byte-level cut can split a
    character: its remains go)."""
    text = text.lstrip("\ufffd")
    return tuple(m.strip() for m in text.split(MESSAGE_SEPARATOR) if m.strip()) or ("",)
