"""Whole-conversation windows: every owner turn carries loss in some sequence (hypothesis), windows
respect max_length, held-out turns never reach training, blocked turns are cut out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model.dialogue import Dialogue, Turn
from model.prompt import IGNORE_INDEX, PromptFormat
from training.data.sequences import Conversation, encode_conversations, plan_window

WORDS = ["ok", "lol", "see you", "да", "привет как дела", "what time?", "👍", "[photo]", "call me when you can"]


@pytest.fixture(scope="module")
def tiny_tok(tiny_model_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_model_dir))


def _session(spec: list[tuple[bool, list[int]]]) -> Conversation:
    """(owner?, word indices per message) → a conversation whose sides alternate like stored ones."""
    turns: list[Turn] = []
    for owner, words in spec:
        role = "owner" if owner else "partner"
        messages = tuple(" ".join(WORDS[w] for w in words[i:i + 3]) for i in range(0, len(words), 3))
        if turns and turns[-1].role == role:
            turns[-1] = Turn(role, turns[-1].messages + messages)
        else:
            turns.append(Turn(role, messages))
    return Conversation(1, Dialogue(tuple(turns), "Anna", "sister"))


def _runs(labels: list[int]) -> list[list[int]]:
    runs: list[list[int]] = []
    for i, label in enumerate(labels):
        if label != IGNORE_INDEX:
            if i == 0 or labels[i - 1] == IGNORE_INDEX:
                runs.append([])
            runs[-1].append(label)
    return runs


turn_spec = st.tuples(st.booleans(), st.lists(st.integers(0, len(WORDS) - 1), min_size=1, max_size=40))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=st.lists(turn_spec, min_size=1, max_size=30), max_length=st.sampled_from([48, 96, 256]),
       context=st.integers(0, 6))
def test_no_owner_reply_is_lost(tiny_tok: Any, spec: list[tuple[bool, list[int]]], max_length: int,
                                context: int) -> None:
    fmt = PromptFormat.for_tokenizer(tiny_tok)
    conversation = _session(spec)
    rows, stats = encode_conversations(tiny_tok, fmt, [conversation], max_length, context)
    owner = [t for t in conversation.dialogue.turns if t.role == "owner"]
    assert stats.owner_turns == stats.labelled_turns == len(owner)
    # rows come in window order and label owner turns in order: one labelled run per owner turn
    runs = [(tuple(run), len(row["input_ids"]) == max_length) for row in rows for run in _runs(row["labels"])]
    assert len(runs) == len(owner)
    for (run, row_full), turn in zip(runs, owner, strict=True):
        tokens = tuple(tiny_tok.encode(fmt.reply_text(turn.text), add_special_tokens=False))
        assert run == tokens or (row_full and run and run == tokens[:len(run)])  # whole, or cut at max_length
    assert all(len(row["input_ids"]) <= max_length for row in rows)
    assert stats.loss_tokens == sum(len(run) for run, _ in runs)


def test_plan_window_keeps_context_and_labels_each_turn_once() -> None:
    roles = ["partner", "owner"] * 6
    lengths = [10] * 12
    pending = [1, 3, 5, 7, 9, 11]
    seen: list[int] = []
    while pending:
        window = plan_window(pending[0], pending, roles, lengths, header=5, max_length=65, context_turns=2)
        assert 5 + sum(lengths[window.start:window.end]) <= 65
        assert window.start == max(0, pending[0] - 2)
        seen += window.labelled
        pending = [i for i in pending if i not in window.labelled]
    assert seen == [1, 3, 5, 7, 9, 11]


def test_whole_conversations_raise_the_loss_share(tiny_tok: Any) -> None:
    """The same owner turns cost far fewer tokens as one sequence than as one row per reply."""
    from training.data.dataset import DialogueExample
    from training.evaluation.perplexity import encode_examples

    conversation = _session([(i % 2 == 1, [i % len(WORDS)]) for i in range(20)])
    fmt = PromptFormat.for_tokenizer(tiny_tok)
    rows, stats = encode_conversations(tiny_tok, fmt, [conversation], 512, 10)
    turns = conversation.dialogue.turns
    examples = [DialogueExample(1, Dialogue(turns[max(0, i - 10):i], "Anna", "sister"), t)
                for i, t in enumerate(turns) if t.role == "owner"]
    old = encode_examples(tiny_tok, fmt, examples, 512)
    old_share = sum(sum(x != IGNORE_INDEX for x in r["labels"]) for r in old) / sum(len(r["input_ids"]) for r in old)
    assert len(rows) == 1 and stats.loss_token_share > 2 * old_share
