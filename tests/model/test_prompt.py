"""The prompt format on both real tokenizers: tiny (plain style) and SmolLM2 (its chat template, and
the compact layout new adapters train with)."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pytest

from model.dialogue import MESSAGE_SEPARATOR, Dialogue, Turn, join_messages, split_reply
from model.prompt import IGNORE_INDEX, PromptFormat, PromptFormatError
from tests.model.test_conversation import SESSION as CONVERSATION

DIALOGUE = Dialogue(
    turns=(
        Turn("partner", ("hi! how are you?",), "Anna"),
        Turn("owner", ("fine", "and you?")),
        Turn("partner", ("good", "see you tomorrow at 10?"), "Anna"),
    ),
    partner_name="Anna",
    relationship="sister",
)
GROUP = Dialogue(
    turns=(
        Turn("partner", ("who is coming?",), "Boris"),
        Turn("partner", ("me!",), "Vera"),
        Turn("owner", ("me too",)),
        Turn("partner", ("great, 8 pm",), "Boris"),
    ),
    relationship="friends",
    is_group=True,
)
REPLIES = [
    "sure",
    "да, конечно",
    "ok 👍",
    "10:30 works",
    "...maybe",
    ":) ok",
    "[photo] look",
    join_messages(["yes", "see you", "😀"]),
    "line one\nline two",
]


@pytest.fixture(params=["tiny", "smollm", "smollm-compact"])
def case(request: pytest.FixtureRequest) -> tuple[Any, PromptFormat]:
    """(tokenizer, format): tiny's plain style, SmolLM2's own template, SmolLM2's compact layout."""
    name, _, compact = request.param.partition("-")
    tokenizer = request.getfixturevalue(f"{name}_tokenizer")
    fmt = PromptFormat.for_training(tokenizer, memory=False) if compact else PromptFormat.for_tokenizer(tokenizer)
    return tokenizer, fmt


def test_styles_follow_the_tokenizer(tiny_tokenizer: Any, smollm_tokenizer: Any) -> None:
    plain = PromptFormat.for_tokenizer(tiny_tokenizer)
    chat = PromptFormat.for_tokenizer(smollm_tokenizer)
    assert plain.style == "plain" and plain.end_of_turn == tiny_tokenizer.eos_token
    assert chat.style == "chat_template" and chat.end_of_turn == "<|im_end|>"
    assert "<|im_start|>" in chat.stop_markers


def test_prompt_ends_where_the_reply_begins(case: tuple[Any, PromptFormat]) -> None:
    _, fmt = case
    prompt = fmt.render_prompt(DIALOGUE)
    assert not prompt.endswith(" ")
    assert "Anna" in prompt and "sister" in prompt
    ending = {"plain": "\nMe:", "chat_template": "<|im_start|>assistant\n", "compact": "?<|im_start|>"}
    assert prompt.endswith(ending[fmt.style])


@pytest.mark.parametrize("reply", REPLIES)
def test_token_boundaries_agree(case: tuple[Any, PromptFormat], reply: str) -> None:
    """Tokenising prompt and prompt+reply in one go agree on the prompt part, and the training
    row (prompt ids + reply ids) is exactly that one-go tokenisation."""
    tokenizer, fmt = case
    prompt_ids = fmt.encode_prompt(tokenizer, DIALOGUE)
    whole = fmt._encode_prompt_text(tokenizer, fmt.render_prompt(DIALOGUE) + fmt.reply_text(reply))
    assert whole[: len(prompt_ids)] == prompt_ids
    assert fmt.encode_example(tokenizer, DIALOGUE, reply)["input_ids"] == whole


@pytest.mark.parametrize("reply", REPLIES)
def test_labels_cover_only_the_reply_and_end_of_turn(case: tuple[Any, PromptFormat], reply: str) -> None:
    tokenizer, fmt = case
    row = fmt.encode_example(tokenizer, DIALOGUE, reply)
    prompt_len = len(fmt.encode_prompt(tokenizer, DIALOGUE))
    assert len(row["input_ids"]) == len(row["labels"]) == len(row["attention_mask"])
    assert row["labels"][:prompt_len] == [IGNORE_INDEX] * prompt_len
    scored = row["labels"][prompt_len:]
    assert scored == row["input_ids"][prompt_len:] and IGNORE_INDEX not in scored
    text = tokenizer.decode(scored, skip_special_tokens=False)
    assert text.endswith(fmt.end_of_turn)
    assert text[: -len(fmt.end_of_turn)].strip() == reply


def test_separator_round_trip(case: tuple[Any, PromptFormat]) -> None:
    messages = ["first", "второе", "third 🎉"]
    tokenizer, fmt = case
    row = fmt.encode_example(tokenizer, DIALOGUE, join_messages(messages))
    scored = [t for t in row["labels"] if t != IGNORE_INDEX]
    text = tokenizer.decode(scored, skip_special_tokens=False)[: -len(fmt.end_of_turn)]
    assert MESSAGE_SEPARATOR in text
    assert split_reply(text) == messages


def test_truncation_drops_oldest_turns_never_the_reply(case: tuple[Any, PromptFormat]) -> None:
    tokenizer, fmt = case
    full = fmt.encode_example(tokenizer, DIALOGUE, "sure, see you")
    reply_tokens = [t for t in full["labels"] if t != IGNORE_INDEX]
    last_only = Dialogue(DIALOGUE.turns[-1:], "Anna", "sister")
    minimal = len(fmt.encode_prompt(tokenizer, last_only)) + len(reply_tokens)
    cut = fmt.encode_example(tokenizer, DIALOGUE, "sure, see you", max_length=minimal)
    assert len(cut["input_ids"]) == minimal < len(full["input_ids"])
    assert [t for t in cut["labels"] if t != IGNORE_INDEX] == reply_tokens
    assert cut["input_ids"][: minimal - len(reply_tokens)] == fmt.encode_prompt(tokenizer, last_only)
    empty = fmt.encode_example(tokenizer, DIALOGUE, "sure, see you", max_length=minimal - 1)
    assert empty == {"input_ids": [], "labels": [], "attention_mask": []}


def test_group_turns_carry_speaker_names(case: tuple[Any, PromptFormat]) -> None:
    tokenizer, fmt = case
    prompt = fmt.render_prompt(GROUP)
    assert "Boris: who is coming?" in prompt and "Vera: me!" in prompt
    assert "group chat" in prompt
    stops = fmt.stop_strings(GROUP)
    assert {"\nBoris:", "\nVera:", "\nMe:"} <= set(stops)


def test_our_rendering_matches_the_tokenizers_own_chat_template(smollm_tokenizer: Any) -> None:
    fmt = PromptFormat.for_tokenizer(smollm_tokenizer)
    ours = fmt.render_prompt(DIALOGUE)
    theirs = smollm_tokenizer.apply_chat_template(fmt._messages(DIALOGUE), tokenize=False, add_generation_prompt=True)
    assert ours == theirs


def test_save_and_load_round_trip(tmp_path: Path, case: tuple[Any, PromptFormat]) -> None:
    _, fmt = case
    fmt.save(tmp_path)
    loaded = PromptFormat.load(tmp_path)
    assert loaded == fmt
    assert loaded.render_prompt(GROUP) == fmt.render_prompt(GROUP)


def test_load_refuses_missing_or_broken_files(tmp_path: Path) -> None:
    with pytest.raises(PromptFormatError, match="missing"):
        PromptFormat.load(tmp_path)
    (tmp_path / "prompt_format.json").write_text("{not json")
    with pytest.raises(PromptFormatError, match="JSON"):
        PromptFormat.load(tmp_path)


def test_system_text_names_partner_and_relationship() -> None:
    fmt = PromptFormat(style="plain", end_of_turn="</s>")
    assert "with Anna (sister)" in fmt.system_text(DIALOGUE)
    assert "with your boss" in fmt.system_text(Dialogue(DIALOGUE.turns, relationship="boss"))
    assert "group chat" in fmt.system_text(GROUP)
    with pytest.raises(PromptFormatError):
        fmt.render_prompt(Dialogue(()))


# test_conversation's session, its last owner turn ending in ")" (the owner's smile).
SESSION = replace(CONVERSATION, turns=(*CONVERSATION.turns[:-1], Turn("owner", ("lol)",))))
OWNER_TURNS = [i for i, t in enumerate(SESSION.turns) if t.role == "owner"]


def _labels(row: dict[str, list[int]]) -> list[int]:
    return [label for label in row["labels"] if label != IGNORE_INDEX]


def test_new_adapters_train_compact_where_the_template_allows(tiny_tokenizer: Any, smollm_tokenizer: Any) -> None:
    compact = PromptFormat.for_training(smollm_tokenizer, memory=False)
    assert compact.style == "compact" and compact.owner_opener == "<|im_start|>" and compact.version == 3
    assert compact.end_of_turn == PromptFormat.for_tokenizer(smollm_tokenizer).end_of_turn
    assert PromptFormat.for_training(tiny_tokenizer, memory=False).style == "plain"  # no template: nothing to compact


def test_compact_learns_the_same_tokens_from_far_fewer(smollm_tokenizer: Any) -> None:
    """Same labelled tokens (the owner's replies and their end of turn) as the model's own template;
    the per-turn headers go, at least 6 tokens per exchange."""
    tokenizer = smollm_tokenizer
    chat, compact = PromptFormat.for_tokenizer(tokenizer), PromptFormat.for_training(tokenizer, memory=False)
    old, _ = chat.encode_conversation(tokenizer, SESSION, OWNER_TURNS)
    new, covered = compact.encode_conversation(tokenizer, SESSION, OWNER_TURNS)
    assert covered == tuple(OWNER_TURNS) and _labels(new) == _labels(old)
    assert len(new["input_ids"]) <= len(old["input_ids"]) - 6 * len(OWNER_TURNS)


def test_compact_serve_time_prompts_are_token_prefixes_of_the_row(smollm_tokenizer: Any) -> None:
    tokenizer, fmt = smollm_tokenizer, PromptFormat.for_training(smollm_tokenizer, memory=False)
    row, _ = fmt.encode_conversation(tokenizer, SESSION, OWNER_TURNS)
    for turn in OWNER_TURNS[1:]:
        prompt = fmt.encode_prompt(tokenizer, replace(SESSION, turns=SESSION.turns[:turn]))
        assert row["input_ids"][:len(prompt)] == prompt
        assert row["labels"][len(prompt)] != IGNORE_INDEX and row["labels"][len(prompt) - 1] == IGNORE_INDEX


def test_an_adapter_saved_in_format_1_keeps_its_layout(tmp_path: Path, smollm_tokenizer: Any) -> None:
    """What tgtwin wrote before format 2 (no `owner_opener`): still loads, still renders the model's template."""
    from model.adapter_format import serving_format

    old = {k: v for k, v in asdict(PromptFormat.for_tokenizer(smollm_tokenizer)).items() if k != "owner_opener"}
    legacy = {**old, "version": 1, "stop_markers": list(old["stop_markers"])}
    (tmp_path / "prompt_format.json").write_text(json.dumps(legacy))
    fmt = serving_format(tmp_path, lambda: PromptFormat.for_training(smollm_tokenizer, memory=False))
    assert fmt.style == "chat_template" and fmt.version == 1
    theirs = smollm_tokenizer.apply_chat_template(fmt._messages(DIALOGUE), tokenize=False, add_generation_prompt=True)
    assert fmt.render_prompt(DIALOGUE) == theirs


def test_a_format_from_a_newer_tgtwin_is_refused(tmp_path: Path) -> None:
    PromptFormat(style="plain", end_of_turn="</s>", version=99).save(tmp_path)
    with pytest.raises(PromptFormatError, match="newer tgtwin"):
        PromptFormat.load(tmp_path)
