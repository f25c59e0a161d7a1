"""Generate the owner's reply: sample, stop at the end of the owner's turn, cut anything that belongs
to someone else's turn, split into Telegram messages.

The user's original had no stop rule and kept writing the partner's next line; here a reply ends at
the format's end-of-turn marker, at EOS, at any special token, or at any speaker marker (`\\nAnna:`),
whichever comes first — checked while generating (to stop early) and again on the final text.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from model.dialogue import Dialogue, split_reply
from model.prompt import PromptFormat


@dataclass(frozen=True, slots=True)
class GenerationSettings:
    """Sampling knobs for one reply."""

    temperature: float = 0.7
    """0 = greedy (then every candidate is the same reply)."""
    top_p: float = 0.9
    """Nucleus sampling cut-off."""
    top_k: int = 50
    """Only the k likeliest tokens are sampled from, then top-p (0 = no limit). 50 is transformers'
    own default; it drops the far tail where misspelt, invented words come from, and it spares the
    CTranslate2 engine a sort of the whole vocabulary per token (measured once on 2 cores, the default
    model: four 30-token candidates in 1.35 s instead of 1.87 s)."""
    max_new_tokens: int = 64
    """Longest reply, in tokens."""
    max_prompt_tokens: int = 1024
    """Longest prompt fed to the model, newest turns kept (`model.context_window`). The model's own
    window (8,192 for the default) is far more than a CPU reads within the reply timeout: measured once
    on a loaded 2-core machine, four candidates and their ranking took 6 s on a 500-token prompt, 17 s on
    1,000, 60 s on 2,000. A usual prompt (the last `context_turns` turns) is a few hundred tokens."""
    banned_phrases: tuple[str, ...] = ()
    """Words/phrases the model may not write (off by default). The original suppressed numbers,
    emoji and slang this way to hide garbage that really came from its prompt/label bug."""
    banned_bias: float = -math.inf
    """Added to the logit of a banned phrase's last token: -inf bans; -10 (the original) discourages."""

    def __post_init__(self) -> None:
        if (self.temperature < 0 or not 0 < self.top_p <= 1 or self.max_new_tokens < 1 or self.top_k < 0
                or self.max_prompt_tokens < 1):
            raise ValueError("temperature >= 0, 0 < top_p <= 1, top_k >= 0, max_new_tokens >= 1 and "
                             "max_prompt_tokens >= 1 are required")

    @classmethod
    def from_settings(cls, settings: Any) -> GenerationSettings:
        return cls(
            temperature=settings.temperature,
            top_p=settings.top_p,
            top_k=settings.top_k,
            max_new_tokens=settings.max_new_tokens,
            max_prompt_tokens=settings.max_prompt_tokens,
            banned_phrases=tuple(p for p in settings.banned_phrases if p.strip()),
        )


def generate_replies(
    model: Any,
    tokenizer: Any,
    fmt: PromptFormat,
    dialogue: Dialogue,
    gen: GenerationSettings,
    n: int = 1,
    *,
    logits_processors: Sequence[Any] = (),
    should_stop: Callable[[], bool] | None = None,
) -> list[list[str]]:
    """`n` replies to the dialogue's last turn, each as the list of Telegram messages to send.

    `should_stop` is polled after every token (the service cancels a timed-out request with it);
    `logits_processors` are applied after the banned-phrase processor (tests force tokens with it).
    """
    import torch
    from transformers import GenerationConfig, LogitsProcessorList, StoppingCriteriaList

    prompt_ids = fmt.encode_prompt(tokenizer, dialogue)
    device = next(model.parameters()).device
    input_ids = torch.tensor([prompt_ids], dtype=torch.long, device=device)
    stops = reply_stop_strings(fmt, tokenizer, dialogue)
    sample = gen.temperature > 0
    eos_ids = end_token_ids(fmt, tokenizer)
    config = GenerationConfig(
        max_new_tokens=gen.max_new_tokens,
        do_sample=sample,
        temperature=gen.temperature if sample else None,
        top_p=gen.top_p if sample else None,
        top_k=(gen.top_k or None) if sample else None,
        num_return_sequences=n if sample else 1,
        eos_token_id=eos_ids,
        pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos_ids[0],
        use_cache=True,
    )
    processors = LogitsProcessorList()
    banned = banned_phrase_processor(tokenizer, gen.banned_phrases, gen.banned_bias)
    if banned is not None:
        processors.append(banned)
    processors.extend(logits_processors)
    criteria = StoppingCriteriaList([_stop_on_text(tokenizer, fmt, dialogue, stops, len(prompt_ids), should_stop)])
    with torch.inference_mode():
        output = model.generate(
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            generation_config=config,
            logits_processor=processors,
            stopping_criteria=criteria,
        )
    replies = [finish_reply(tokenizer, fmt, dialogue, stops, row[len(prompt_ids):]) for row in output.tolist()]
    return replies if sample else replies * n


def finish_reply(tokenizer: Any, fmt: PromptFormat, dialogue: Dialogue, stops: Sequence[str],
                 generated_ids: Sequence[int]) -> list[str]:
    """The Telegram messages of one generated token sequence (every engine ends here)."""
    text = tokenizer.decode(list(generated_ids), skip_special_tokens=False)
    return split_reply(cut_reply(text, stops, fmt.speaker_prefixes(dialogue), fmt.owner_label))


def turn_has_ended(tokenizer: Any, fmt: PromptFormat, dialogue: Dialogue, stops: Sequence[str],
                   generated_ids: Sequence[int]) -> bool:
    """Whether a sequence being generated has finished the owner's turn (then it can stop)."""
    text = tokenizer.decode(list(generated_ids), skip_special_tokens=False)
    return owner_part(text, stops, fmt.speaker_prefixes(dialogue), fmt.owner_label)[1]


def reply_stop_strings(fmt: PromptFormat, tokenizer: Any, dialogue: Dialogue) -> list[str]:
    """The format's stop strings plus every special token the tokenizer knows."""
    specials = [t for t in getattr(tokenizer, "all_special_tokens", []) if t]
    return list(dict.fromkeys([*fmt.stop_strings(dialogue), *specials]))


def cut_reply(text: str, stops: Sequence[str], speaker_prefixes: Sequence[str], owner_label: str) -> str:
    """The owner's part of a generated text (see `owner_part`)."""
    return owner_part(text, stops, speaker_prefixes, owner_label)[0]


def owner_part(
    text: str, stops: Sequence[str], speaker_prefixes: Sequence[str], owner_label: str
) -> tuple[str, bool]:
    """(the owner's part of a generated text, whether the turn has ended).

    The part ends before the first stop string. A leading owner marker (`Me:`) is dropped; a
    leading partner marker means the model started someone else's turn: nothing is the owner's."""
    text = text.lstrip()
    own = f"{owner_label}:"
    if text.startswith(own):
        text = text[len(own):].lstrip()
    elif any(text.startswith(prefix) for prefix in speaker_prefixes):
        return "", True
    cut = len(text)
    for stop in stops:
        at = text.find(stop)
        if at != -1:
            cut = min(cut, at)
    return text[:cut].strip(), cut < len(text)


def banned_phrase_processor(tokenizer: Any, phrases: Sequence[str], bias: float = -math.inf) -> Any:
    """A logits processor that biases each banned phrase's completing token (None when no phrases)."""
    from transformers import SequenceBiasLogitsProcessor

    sequences = banned_sequences(tokenizer, phrases)
    if not sequences:
        return None
    return SequenceBiasLogitsProcessor(sequence_bias=[[list(ids), float(bias)] for ids in sequences])


def banned_sequences(tokenizer: Any, phrases: Sequence[str]) -> list[tuple[int, ...]]:
    """The token sequences of each banned phrase: as tokenised at a word start, after a space, and
    capitalised, since BPE gives each spelling different ids."""
    sequences: dict[tuple[int, ...], None] = {}
    for phrase in phrases:
        phrase = phrase.strip()
        if not phrase:
            continue
        for variant in sorted({phrase, phrase.capitalize(), phrase.lower()}):
            for spelled in (variant, " " + variant):
                ids = tuple(tokenizer.encode(spelled, add_special_tokens=False))
                if ids:
                    sequences[ids] = None
    return list(sequences)


def end_token_ids(fmt: PromptFormat, tokenizer: Any) -> list[int]:
    """EOS and the format's end-of-turn marker when it is a single token: generation stops on either."""
    ids = []
    if tokenizer.eos_token_id is not None:
        ids.append(tokenizer.eos_token_id)
    end = tokenizer.encode(fmt.end_of_turn, add_special_tokens=False)
    if len(end) == 1 and end[0] not in ids:
        ids.append(end[0])
    return ids


def _stop_on_text(tokenizer: Any, fmt: PromptFormat, dialogue: Dialogue, stops: Sequence[str],
                  prompt_length: int, should_stop: Callable[[], bool] | None) -> Any:
    """A stopping criterion: a sequence is done once its owner part has ended (or on cancel)."""
    import torch
    from transformers import StoppingCriteria

    class StopAtTurnEnd(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            if should_stop is not None and should_stop():
                return torch.ones(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
            done = [turn_has_ended(tokenizer, fmt, dialogue, stops, row)
                    for row in input_ids[:, prompt_length:].tolist()]
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    return StopAtTurnEnd()
