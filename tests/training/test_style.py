"""Style metrics on hand-computed cases (training.evaluation.style)."""

from __future__ import annotations

import pytest

from training.evaluation.style import (
    Lexicon,
    ReplyContext,
    compare_style,
    ending,
    relative_difference,
    script,
    style_distance,
    style_metrics,
    words,
)

LEX = Lexicon.from_texts(["привет как ты", "ок ок", "да"], ["как дела", "hello"], top=2)
NONE = ReplyContext()


def test_words_and_lexicon():
    assert words("Привет, как ты? 123 ok_go") == ["привет", "как", "ты", "ok", "go"]
    # owner counts: ок 2, привет 1, как 1, ты 1, да 1 → top 2: ок, then the alphabetically first of the ties
    assert LEX.top_words == {"ок", "да"}
    assert {"hello", "дела", "привет"} <= LEX.vocabulary and "пока" not in LEX.vocabulary


@pytest.mark.parametrize(("message", "expected"), [
    ("ну да)", "paren"), ("ок))", "paren"), ("да.", "period"), ("ну…", "period"), ("да!", "exclamation"),
    ("как?", "question"), ("супер 😀", "emoji"), ("ок ❤️", "emoji"), ("ок", "none"), ("   ", "none"), ("5", "none"),
])
def test_endings(message, expected):
    assert ending(message) == expected


def test_script():
    assert script("привет hi") == "cyrillic" and script("hello там") == "latin" and script("123 :)") is None
    assert script("γειά") == "other"


def test_style_metrics_hand_computed():
    replies = [["привет", "Как ты?"], ["ок 😀"], ["пока.)"]]
    contexts = [ReplyContext(("привет",)), ReplyContext(("hello",)), ReplyContext(("как дела", "Anna: hi"), ("Anna:",))]
    m = style_metrics(replies, contexts, LEX)
    assert m["mean_chars"] == pytest.approx((6 + 7 + 4 + 6) / 3)
    assert m["mean_words"] == pytest.approx((3 + 1 + 1) / 3)
    assert m["mean_messages"] == pytest.approx(4 / 3)
    assert m["lowercase_share"] == pytest.approx(3 / 4)  # "Как" is the one capital
    assert m["end_question_share"] == pytest.approx(1 / 4) and m["end_emoji_share"] == pytest.approx(1 / 4)
    assert m["end_paren_share"] == pytest.approx(1 / 4) and m["end_none_share"] == pytest.approx(1 / 4)
    assert m["end_period_share"] == 0.0 and m["end_exclamation_share"] == 0.0
    assert m["emoji_share"] == pytest.approx(1 / 3) and m["multi_message_share"] == pytest.approx(1 / 3)
    # words: привет как ты | ок | пока → top words {ок, да}: 1 of 5
    assert m["top_words_share"] == pytest.approx(1 / 5)
    assert m["invented_share"] == pytest.approx(1 / 3)  # "пока" was never seen
    assert m["echo_share"] == pytest.approx(1 / 3)  # "привет" answers "привет"
    assert m["marker_share"] == 0.0
    # scripts: cyr/cyr, (no letters in 😀? "ок" is cyrillic) vs latin, cyr/cyr → 2 of 3
    assert m["language_match_share"] == pytest.approx(2 / 3)


def test_markers_and_empty_inputs():
    m = style_metrics([["Anna: hi"], []], [ReplyContext(("hi",), ("Anna:",)), NONE], LEX)
    assert m["marker_share"] == 0.5 and m["mean_messages"] == 1.0 and m["mean_chars"] == 4.0
    empty = style_metrics([], [], LEX)
    assert empty["mean_chars"] == 0.0 and empty["language_match_share"] == 1.0
    with pytest.raises(ValueError, match="one context per reply"):
        style_metrics([["a"]], [], LEX)


def test_distance_is_the_mean_relative_difference():
    assert relative_difference(0.0, 0.0) == 0.0
    assert relative_difference(0.5, 0.0) == 1.0
    assert relative_difference(2.0, 4.0) == 0.5
    assert style_distance({"a": 2.0, "b": 0.0, "c": 1.0}, {"a": 4.0, "b": 0.0, "c": 0.0}) == 0.5  # (0.5+0+1)/3
    same = [["ок"], ["да)"]]
    ctx = [NONE, NONE]
    assert compare_style(same, same, ctx, LEX).style_distance == 0.0
    report = compare_style([["Ок."], ["Да."]], same, ctx, LEX)
    assert 0.0 < report.style_distance <= 1.0
    assert report.to_json()["lowercase_share"] == {"generated": 0.0, "real": 1.0, "gap": 1.0}
