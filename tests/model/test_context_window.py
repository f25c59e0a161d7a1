"""The one cut of a prompt to the model's window (`model.context_window`), on both tokenizers:
newest turns kept, a turn too long alone keeps its newest end, training drops such a row instead."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest

from model.context_window import ContextWindowError, context_window, drop_oldest_turns, fit_dialogue, reply_budget
from model.dialogue import Dialogue, Turn
from model.prompt import PromptFormat
from testdata.doubles import RecordingEngine

SENTENCES = ("see you tomorrow at 10, ok? ", "привет! как дела? ", "did you see the photo 👍 ")


def long_message(i: int, chars: int = 4096) -> str:
    text = f"message {i}: " + "".join(SENTENCES[(i + k) % 3] for k in range(chars // 20))
    return text[:chars]


def conversation(turns: int, chars: int = 300) -> Dialogue:
    """Alternating turns, oldest first, ending with the partner."""
    roles = ["partner" if (turns - 1 - i) % 2 == 0 else "owner" for i in range(turns)]
    return Dialogue(tuple(Turn(role, (long_message(i, chars),), "Anna" if role == "partner" else None)
                          for i, role in enumerate(roles)), "Anna", "friend")


@pytest.fixture(params=["tiny", "smollm"])
def tokenizer(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(f"{request.param}_tokenizer")


def test_a_dialogue_that_fits_is_left_whole(tokenizer: Any) -> None:
    fmt = PromptFormat.for_tokenizer(tokenizer)
    dialogue = conversation(4, 40)
    fitted = fit_dialogue(fmt, tokenizer, dialogue, 4000)
    assert fitted.dialogue == dialogue and fitted.prompt_ids == fmt.encode_prompt(tokenizer, dialogue)


def test_the_oldest_turns_go_first_and_no_more_than_needed(tokenizer: Any) -> None:
    fmt = PromptFormat.for_tokenizer(tokenizer)
    dialogue = conversation(40)
    for budget in (300, 1000, 2500):
        fitted = fit_dialogue(fmt, tokenizer, dialogue, budget)
        kept = len(fitted.dialogue.turns)
        assert 1 <= kept < len(dialogue.turns)
        assert fitted.dialogue == replace(dialogue, turns=dialogue.turns[-kept:])  # the newest, untouched
        assert fitted.prompt_ids == fmt.encode_prompt(tokenizer, fitted.dialogue)
        assert len(fitted.prompt_ids) <= budget
        one_more = replace(dialogue, turns=dialogue.turns[-kept - 1:])
        assert len(fmt.encode_prompt(tokenizer, one_more)) > budget  # nothing dropped that would have fit


def test_a_turn_too_long_alone_keeps_its_newest_end(tokenizer: Any) -> None:
    """A partner's burst of 200 long messages (one turn): its newest messages stay whole, the oldest
    kept one is cut at its start, and the rest go."""
    fmt = PromptFormat.for_tokenizer(tokenizer)
    burst = Turn("partner", tuple(long_message(i) for i in range(200)), "Anna")
    dialogue = Dialogue((Turn("owner", ("hi",)), burst), "Anna")
    budget = 3000
    fitted = fit_dialogue(fmt, tokenizer, dialogue, budget)
    assert len(fitted.prompt_ids) <= budget and fitted.prompt_ids == fmt.encode_prompt(tokenizer, fitted.dialogue)
    (turn,) = fitted.dialogue.turns
    assert (turn.role, turn.speaker) == ("partner", "Anna")
    *whole, newest = burst.messages
    assert turn.messages[-1] == newest and 1 < len(turn.messages) < len(burst.messages)
    first = turn.messages[0]
    assert first != burst.messages[-len(turn.messages)] and burst.messages[-len(turn.messages)].endswith(first)
    assert turn.messages[1:] == burst.messages[-len(turn.messages) + 1:]


def test_a_single_message_too_long_is_cut_to_its_newest_tokens(tokenizer: Any) -> None:
    fmt = PromptFormat.for_tokenizer(tokenizer)
    message = long_message(7)
    dialogue = Dialogue((Turn("partner", (message,), "Anna"),), "Anna")
    fitted = fit_dialogue(fmt, tokenizer, dialogue, 120)
    (kept,) = fitted.dialogue.turns[0].messages
    assert 20 < len(kept) < len(message) and message.endswith(kept)
    assert len(fitted.prompt_ids) <= 120


def test_no_room_for_even_a_bare_turn_is_a_clear_error(tokenizer: Any) -> None:
    fmt = PromptFormat.for_tokenizer(tokenizer)
    with pytest.raises(ContextWindowError, match="lower max_new_tokens"):
        fit_dialogue(fmt, tokenizer, conversation(3), 3)


def test_training_drops_the_oldest_turns_by_the_same_rule_and_never_cuts_a_turn(tokenizer: Any) -> None:
    fmt = PromptFormat.for_tokenizer(tokenizer)
    dialogue = conversation(30)
    reply = "fine, and you?"
    reply_ids = tokenizer.encode(fmt.reply_text(reply), add_special_tokens=False)
    row = fmt.encode_example(tokenizer, dialogue, reply, max_length=1200)
    fitted = drop_oldest_turns(fmt, tokenizer, dialogue, 1200 - len(reply_ids))
    assert fitted is not None and row["input_ids"] == fitted.prompt_ids + reply_ids
    assert fitted.prompt_ids == fit_dialogue(fmt, tokenizer, dialogue, 1200 - len(reply_ids)).prompt_ids
    tight = fmt.encode_example(tokenizer, dialogue, reply, max_length=40)
    assert tight == {"input_ids": [], "labels": [], "attention_mask": []}  # the turn alone is too long


def test_the_window_and_the_reply_budget(tiny_tokenizer: Any, tiny_dir: Any) -> None:
    from transformers import AutoConfig

    assert context_window(AutoConfig.from_pretrained(str(tiny_dir))) == 4096
    assert context_window(SimpleNamespace(n_positions=1024)) == 1024  # GPT-2's name for it
    assert context_window(SimpleNamespace(), SimpleNamespace(model_max_length=2048)) == 2048
    with pytest.raises(ContextWindowError, match="no context window"):
        context_window(SimpleNamespace(), SimpleNamespace(model_max_length=10**30))
    fmt = PromptFormat.for_tokenizer(tiny_tokenizer)
    end = len(tiny_tokenizer.encode(fmt.reply_text(""), add_special_tokens=False))
    assert reply_budget(fmt, tiny_tokenizer, 64) == 64 + end >= 65



def test_serving_prompts_are_capped_below_a_huge_window(tokenizer: Any) -> None:
    """A model's window (8,192 for the default) is more than a CPU reads within the reply timeout:
    `max_prompt_tokens` caps the prompt, newest turns kept."""
    from model.candidates import choose_replies
    from model.generation import GenerationSettings

    fmt = PromptFormat.for_tokenizer(tokenizer)
    engine = RecordingEngine(tokenizer)
    dialogue = conversation(40, 400)
    choose_replies(engine, fmt, dialogue, GenerationSettings(max_prompt_tokens=300), n_candidates=2)
    (seen,) = engine.seen
    assert len(fmt.encode_prompt(tokenizer, seen)) <= 300
    assert seen.turns[-1] == dialogue.turns[-1] and len(seen.turns) < len(dialogue.turns)
