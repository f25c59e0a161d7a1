"""The memory figures of an evaluation: memory_recall and hits@1 of the new adapter with memory on
and off, in its own prompt format (`training.evaluation.report.MemoryFigures`).

*On* is the held-out example as the dataset built it: its dialogue carries the memory serving would
recall for it (`Dialogue.memory`). *Off* is the same example with no memory (`without_memory`): the
prompt has no memory block, everything else is the same. An adapter whose format has no memory
block renders none either way, so it has "off" figures only.

memory_recall generates only for the fact-dependent held-out turns (`training.evaluation.memory_recall`,
found in the whole history), the most recent `eval_generate` of them: with memory and without. Every
reply goes through the evaluation cache, keyed with the memory block the prompt shows, so a turn
the style figures generated for already (with memory) is not generated again, and a turn that
recalled nothing costs one generation, not two. hits@1 without memory is measured on the hits@1
contexts again; those without memory come from the cache.

Cost, measured once on the shared 2-core box at load 5-6 (a generated history of 3,000 owner
messages: 142 held-out examples, 118 of them with memory, 5 fact-dependent; the default model with
the smollm2-cpu preset's evaluation settings, untrained adapters, CTranslate2, the base model
cached): 252 s for an adapter with memory against 189 s without. 45 s of it are these figures,
mostly hits@1 without memory (its forward passes; the 5 turns' replies are a few seconds); the
rest is the longer prompts of memory itself (perplexity 24 s against 11 s, generation 90 s against 75 s).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from training.data.dataset import DialogueExample
from training.evaluation.cache import CachedReplies
from training.evaluation.memory_recall import FactHistory, HeldOutTurn, content_words, fact_word, memory_recall
from training.evaluation.report import MemoryFigures, OnOff


@dataclass(frozen=True, slots=True)
class FactTurns:
    """The fact-dependent held-out turns to generate for, as examples and as the metric's turns."""

    examples: list[DialogueExample]
    turns: list[HeldOutTurn]
    words: list[str]
    """Each turn's fact word (normalised)."""


@dataclass(frozen=True, slots=True)
class MemoryMeasured:
    """What the new adapter measured for the memory figures (`training.evaluation.measure`)."""

    facts_on: list[CachedReplies] | None
    """Replies to the fact-dependent turns with their memory (None: the format has no memory block,
    so "on" is "off")."""
    facts_off: list[CachedReplies]
    """Replies to the same turns without memory."""
    hits_off: float | None
    """hits@1 on the hits@1 contexts without memory."""


def without_memory(example: DialogueExample) -> DialogueExample:
    """The example with memory off: the same dialogue, nothing recalled."""
    return replace(example, dialogue=replace(example.dialogue, memory=())) if example.dialogue.memory else example


def find_fact_turns(answerable: Sequence[DialogueExample], history: FactHistory | None, limit: int) -> FactTurns | None:
    """The most recent `limit` fact-dependent turns among `answerable` (held-out examples with a turn
    to answer, oldest first); None without a history to find them in."""
    if history is None:
        return None
    found: list[tuple[DialogueExample, HeldOutTurn, str]] = []
    for example in answerable:
        turn = history.held_out_turn(example.chat_id, example.dialogue.turns, example.reply)
        if (word := fact_word(history.words, turn)) is not None:
            found.append((example, turn, word))
    chosen = found[-limit:] if limit > 0 else []
    return FactTurns([e for e, _, _ in chosen], [t for _, t, _ in chosen], [w for _, _, w in chosen])


def _recall(history: FactHistory, facts: FactTurns, replies: Sequence[CachedReplies]) -> float | None:
    return memory_recall(history.words, facts.turns, ["\n".join(r.chosen) for r in replies]).recall


def _fact_in_memory(example: DialogueExample, word: str) -> bool:
    return any(word in content_words(t.text) for r in example.dialogue.memory for t in r.turns)


def memory_figures(fmt: Any, history: FactHistory | None, facts: FactTurns | None, hits: float | None,
                   measured: MemoryMeasured) -> MemoryFigures:
    """The figures from what the new adapter measured; `hits` is its hits@1 as measured for the gate
    (with memory where its format has it)."""
    has_memory = bool(fmt.memory)
    if history is None or facts is None:
        recall, fact_dependent, in_memory = OnOff(), None, None
    else:
        on = _recall(history, facts, measured.facts_on) if measured.facts_on is not None else None
        recall, fact_dependent = OnOff(on, _recall(history, facts, measured.facts_off)), len(facts.turns)
        pairs = zip(facts.examples, facts.words, strict=True)
        in_memory = sum(_fact_in_memory(e, w) for e, w in pairs) if has_memory else None
    return MemoryFigures(has_memory, fact_dependent, recall, OnOff(hits if has_memory else None, measured.hits_off),
                         in_memory)
