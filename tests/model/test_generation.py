"""Generation stop rules, banned phrases and separator splitting, on the tiny model with tokens
forced by a logits processor (so the outcome does not depend on the random weights)."""

from __future__ import annotations

from typing import Any

import pytest

from model.dialogue import MESSAGE_SEPARATOR, Dialogue, Turn
from model.generation import GenerationSettings, banned_phrase_processor, cut_reply, generate_replies, owner_part
from model.prompt import PromptFormat

DIALOGUE = Dialogue(
    turns=(Turn("partner", ("are you coming?",), "Anna"),),
    partner_name="Anna",
)
GREEDY = GenerationSettings(temperature=0.0, max_new_tokens=40)


class ForceText:
    """Makes the model write `text` (then whatever it likes), by boosting each next token."""

    def __init__(self, tokenizer: Any, text: str, prompt_length: int) -> None:
        self.ids = tokenizer.encode(text, add_special_tokens=False)
        self.prompt_length = prompt_length
        self.calls = 0

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        self.calls += 1
        step = input_ids.shape[1] - self.prompt_length
        if step < len(self.ids):
            scores = scores.clone()
            scores[:, self.ids[step]] += 1e4
        return scores


def _generate(tiny_model: tuple[Any, Any], text: str, gen: GenerationSettings = GREEDY, n: int = 1,
              dialogue: Dialogue = DIALOGUE) -> tuple[list[list[str]], ForceText]:
    model, tokenizer = tiny_model
    fmt = PromptFormat.for_tokenizer(tokenizer)
    force = ForceText(tokenizer, text, len(fmt.encode_prompt(tokenizer, dialogue)))
    return generate_replies(model, tokenizer, fmt, dialogue, gen, n, logits_processors=[force]), force


def test_a_forced_speaker_marker_is_cut_and_stops_generation(tiny_model: tuple[Any, Any]) -> None:
    replies, force = _generate(tiny_model, " on my way\nAnna: where are you? and more and more text")
    assert replies == [["on my way"]]
    marker_end = len(tiny_model[1].encode(" on my way\nAnna:", add_special_tokens=False))
    assert force.calls <= marker_end + 1  # stopped right after the marker, not at max_new_tokens


def test_a_reply_that_starts_with_a_partner_marker_is_nobodys(tiny_model: tuple[Any, Any]) -> None:
    replies, _ = _generate(tiny_model, " Anna: hello")
    assert replies == [[]]


def test_end_of_turn_stops_and_is_not_returned(tiny_model: tuple[Any, Any]) -> None:
    replies, force = _generate(tiny_model, " ok<|endoftext|> something after")
    assert replies == [["ok"]]
    assert force.calls == len(tiny_model[1].encode(" ok<|endoftext|>", add_special_tokens=False))


def test_reply_is_split_on_the_separator(tiny_model: tuple[Any, Any]) -> None:
    replies, _ = _generate(tiny_model, f" yes{MESSAGE_SEPARATOR}see you{MESSAGE_SEPARATOR}👍<|endoftext|>")
    assert replies == [["yes", "see you", "👍"]]


def test_banned_phrase_is_never_written(tiny_model: tuple[Any, Any]) -> None:
    free, _ = _generate(tiny_model, " thanks<|endoftext|>")
    assert free == [["thanks"]]
    banned = GenerationSettings(temperature=0.0, max_new_tokens=10, banned_phrases=("thanks",))
    replies, _ = _generate(tiny_model, " thanks<|endoftext|>", banned)
    assert "thanks" not in " ".join(replies[0])


def test_sampling_gives_n_candidates(tiny_model: tuple[Any, Any]) -> None:
    gen = GenerationSettings(temperature=1.0, top_p=0.9, max_new_tokens=5)
    replies, _ = _generate(tiny_model, "", gen, n=3)
    assert len(replies) == 3 and all(isinstance(r, list) for r in replies)
    greedy, _ = _generate(tiny_model, " ok<|endoftext|>", GREEDY, n=2)
    assert greedy == [["ok"], ["ok"]]


def test_owner_part_rules() -> None:
    stops = ["<|im_end|>", "\nAnna:", "\nMe:"]
    prefixes = ["Anna:", "Me:"]
    assert owner_part("Me: hi there", stops, prefixes, "Me") == ("hi there", False)
    assert owner_part(" hi<|im_end|>junk", stops, prefixes, "Me") == ("hi", True)
    assert owner_part("hi\nMe: again", stops, prefixes, "Me") == ("hi", True)
    assert owner_part("Anna: hi", stops, prefixes, "Me") == ("", True)
    assert cut_reply("still going", stops, prefixes, "Me") == "still going"


def test_banned_processor_covers_spellings(tiny_model: tuple[Any, Any]) -> None:
    tokenizer = tiny_model[1]
    assert banned_phrase_processor(tokenizer, []) is None
    processor = banned_phrase_processor(tokenizer, ["ok"], bias=-10.0)
    spelled = {tuple(tokenizer.encode(s, add_special_tokens=False)) for s in ("ok", " ok", "Ok", " Ok")}
    assert spelled <= set(processor.sequence_bias)


def test_settings_come_from_the_settings_object(settings: Any) -> None:
    s = settings.model_copy(update={"temperature": 0.3, "top_p": 0.8, "max_new_tokens": 20,
                                    "banned_phrases": ["lol", " "]})
    gen = GenerationSettings.from_settings(s)
    assert (gen.temperature, gen.top_p, gen.max_new_tokens, gen.banned_phrases) == (0.3, 0.8, 20, ("lol",))
    with pytest.raises(ValueError):
        GenerationSettings(top_p=0.0)
