"""Whole-conversation rows on both real tokenizers: labels are exactly the owner turns' tokens, and the
serve-time prompt of every labelled turn is a token prefix of the row."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from model.dialogue import Dialogue, Turn, join_messages, split_reply
from model.prompt import IGNORE_INDEX, PromptFormat, PromptFormatError

SESSION = Dialogue(
    turns=(
        Turn("owner", ("morning!",)),
        Turn("partner", ("hi! how are you?",), "Anna"),
        Turn("owner", ("fine", "and you?")),
        Turn("partner", ("good", "see you tomorrow at 10?"), "Anna"),
        Turn("owner", ("да, конечно 👍",)),
        Turn("partner", ("[photo] look",), "Anna"),
        Turn("owner", ("lol",)),
    ),
    partner_name="Anna",
    relationship="sister",
)
OWNER = [i for i, t in enumerate(SESSION.turns) if t.role == "owner"]


@pytest.fixture(params=["tiny", "smollm"])
def tokenizer(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue(f"{request.param}_tokenizer")


def _label_runs(labels: list[int]) -> list[list[int]]:
    runs: list[list[int]] = []
    previous = IGNORE_INDEX
    for label in labels:
        if label != IGNORE_INDEX:
            if previous == IGNORE_INDEX:
                runs.append([])
            runs[-1].append(label)
        previous = label
    return runs


def test_every_owner_turn_is_labelled_exactly_as_its_tokens(tokenizer: Any) -> None:
    fmt = PromptFormat.for_tokenizer(tokenizer)
    row, covered = fmt.encode_conversation(tokenizer, SESSION, OWNER)
    assert covered == tuple(OWNER)
    expected = [tokenizer.encode(fmt.reply_text(SESSION.turns[i].text), add_special_tokens=False) for i in OWNER]
    assert _label_runs(row["labels"]) == expected
    labelled = [i for i, label in enumerate(row["labels"]) if label != IGNORE_INDEX]
    assert all(row["input_ids"][i] == row["labels"][i] for i in labelled)
    assert row["input_ids"][-1] == row["labels"][-1]  # ends with the last reply's end of turn


def test_the_serve_time_prompt_is_a_token_prefix(tokenizer: Any) -> None:
    fmt = PromptFormat.for_tokenizer(tokenizer)
    row, _ = fmt.encode_conversation(tokenizer, SESSION, OWNER)
    starts = [i for i in range(len(row["labels"])) if row["labels"][i] != IGNORE_INDEX
              and (i == 0 or row["labels"][i - 1] == IGNORE_INDEX)]
    for turn, start in zip(OWNER[1:], starts[1:], strict=True):
        prompt = fmt.encode_prompt(tokenizer, replace(SESSION, turns=SESSION.turns[:turn]))
        assert row["input_ids"][:start] == prompt
        assert row["input_ids"][:start] == prompt


def test_only_the_chosen_turns_carry_loss(tokenizer: Any) -> None:
    fmt = PromptFormat.for_tokenizer(tokenizer)
    row, covered = fmt.encode_conversation(tokenizer, SESSION, [4])
    assert covered == (4,)
    assert _label_runs(row["labels"]) == [tokenizer.encode(fmt.reply_text(SESSION.turns[4].text),
                                                           add_special_tokens=False)]


def test_a_reply_longer_than_max_length_is_cut_and_still_labelled(tokenizer: Any) -> None:
    fmt = PromptFormat.for_tokenizer(tokenizer)
    long = Dialogue((Turn("partner", ("hi",)), Turn("owner", ("word " * 200,)), Turn("partner", ("ok",)),
                     Turn("owner", ("sure",))))
    row, covered = fmt.encode_conversation(tokenizer, long, [1, 3], max_length=64)
    assert len(row["input_ids"]) == 64
    assert covered == (1,)  # turn 3 did not fit: the caller puts it in another window
    assert row["labels"][-1] != IGNORE_INDEX


def test_partner_turns_cannot_be_labelled(tiny_tokenizer: Any) -> None:
    fmt = PromptFormat.for_tokenizer(tiny_tokenizer)
    with pytest.raises(PromptFormatError):
        fmt.encode_conversation(tiny_tokenizer, SESSION, [1])


@pytest.mark.parametrize("messages", [["yes"], ["yes", "see you", "😀"], ["a b", "  c  ", "д"]])
def test_rhythm_round_trip(messages: list[str]) -> None:
    """split → join → split: the messages of a turn survive as the Telegram messages to send."""
    parts = split_reply(join_messages(messages))
    assert parts == [m.strip() for m in messages]
    assert split_reply(join_messages(parts)) == parts


def test_a_line_break_inside_a_message_does_not_split_it() -> None:
    from model.dialogue import clean_text

    assert split_reply(join_messages([clean_text("line one\nline two"), "next"])) == ["line one line two", "next"]
    assert split_reply("old\n␞\nseparator") == ["old", "separator"]
