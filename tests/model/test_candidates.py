"""Candidate filters (pure) and likelihood ranking (tiny model): model.candidates."""

from __future__ import annotations

import pytest

from model.candidates import (
    Candidate,
    by_context_gain,
    choose_replies,
    context_gain,
    drop_reason,
    filter_candidates,
    has_markers,
    is_echo,
    markers_for,
    repeats_itself,
)
from model.dialogue import Dialogue, Turn, join_messages
from model.generation import GenerationSettings
from model.torch_engine import TorchReplies, score_replies

DIALOGUE = Dialogue((Turn("owner", ("yo",)), Turn("partner", ("Are you coming?", "tonight"), "Anna")), "Anna", "friend")
MARKERS = ("Anna:", "Me:", "<|im_end|>")


def test_empty_and_echo():
    assert drop_reason([], ["hi"], MARKERS) == "empty"
    assert drop_reason(["  ", ""], ["hi"], MARKERS) == "empty"
    assert is_echo(["are you coming"], ["Are you coming?", "tonight"])  # case and punctuation aside
    assert is_echo(["yes", "Tonight!"], ["Are you coming?", "tonight"])
    assert not is_echo(["yes, coming tonight"], ["Are you coming?", "tonight"])
    assert not is_echo(["yes"], [])


def test_markers():
    assert has_markers(["sure\nAnna: ok"], MARKERS)  # a speaker label at a line start
    assert not has_markers(["Anna is here"], MARKERS)  # the name itself is fine
    assert has_markers(["ok<|im_end|>"], MARKERS)
    assert has_markers(["ok ␝␝"], ())  # control pictures (a separator leaking)
    assert has_markers(["<|assistant|> hi"], ())
    assert not has_markers(["ok :)", "see you at 5:30"], MARKERS)


def test_repeats():
    assert repeats_itself(["ok", "OK!"])  # the same message twice
    assert repeats_itself(["i will go i will go"])  # a 3-gram twice
    assert not repeats_itself(["i will go, you will stay"])
    assert not repeats_itself(["да да"])


def test_filter_keeps_order_and_marks_each_reason():
    replies = [["yes)"], [], ["tonight"], ["Me: yes"], ["go go go go"], ["yes)"], ["sure", "when?"]]
    reasons = [c.dropped for c in filter_candidates(replies, ["Are you coming?", "tonight"], MARKERS)]
    assert reasons == [None, "empty", "echo", "markers", "repeats", "duplicate", None]


def test_markers_for_a_dialogue(tiny_model):
    _, tokenizer, fmt = tiny_model
    found = markers_for(fmt, DIALOGUE, tokenizer)
    assert "Anna:" in found and f"{fmt.owner_label}:" in found and fmt.end_of_turn in found


@pytest.fixture(scope="module")
def tiny_model(session_models_dir):
    from model.prompt import PromptFormat
    from model.sources import load_base

    model, tokenizer = load_base("tiny", session_models_dir)
    return model, tokenizer, PromptFormat.for_tokenizer(tokenizer)


def test_scores_equal_a_full_forward_and_rank(tiny_model):
    """The shared-prompt scores equal the mean log-probability of the training row's labels."""
    import torch

    from model.candidates import Candidate, rank

    model, tokenizer, fmt = tiny_model
    replies = [["yes"], ["sure", "when?"], ["a much longer reply with more words"]]
    scores = score_replies(model, tokenizer, fmt, DIALOGUE, replies)
    for reply, score in zip(replies, scores, strict=True):
        row = fmt.encode_example(tokenizer, DIALOGUE, join_messages(reply))
        ids, labels = torch.tensor([row["input_ids"]]), torch.tensor(row["labels"][1:])
        with torch.no_grad():
            logprobs = torch.log_softmax(model(input_ids=ids).logits[0, :-1].float(), dim=-1)
        keep = labels != -100
        expected = float(logprobs[keep].gather(-1, labels[keep].unsqueeze(-1)).mean())
        assert score == pytest.approx(expected, abs=1e-4)
    ranked = rank(TorchReplies(model, tokenizer), fmt, DIALOGUE,
                  [Candidate(tuple(r)) for r in replies] + [Candidate(("x",), "empty")])
    assert [c.score for c in ranked] == sorted(scores, reverse=True)  # best first, dropped left out
    assert len(ranked) == 3


class ScriptedEngine:
    """A `ReplyEngine` with fixed samples and scores: in context, and without it (the chat header
    and an empty partner turn). The tokenizer is tiny's (the window cut counts tokens)."""

    context_window = 2048

    def __init__(self, tokenizer, samples, in_context, without_context):
        self.tokenizer = tokenizer
        self.samples, self.in_context, self.without_context = samples, in_context, without_context
        self.scored_against: list[Dialogue] = []

    def sample(self, fmt, dialogue, gen, n, should_stop=None):
        return [list(s) for s in self.samples[:n]]

    def score(self, fmt, dialogue, replies):
        self.scored_against.append(dialogue)
        table = self.in_context if dialogue == DIALOGUE else self.without_context
        return [table[tuple(r)] for r in replies]


GEN = GenerationSettings()


def test_the_reply_that_owes_most_to_the_context_wins(tiny_model):
    """The plain "ok" is likeliest in context but about as likely anywhere; the two-message answer
    to the question gains most from the conversation."""
    samples = [("ok",), ("yes", "at 8 then"), ("sure",), ("Me: hi",)]
    in_context = {("ok",): -0.5, ("yes", "at 8 then"): -1.0, ("sure",): -0.8}
    without_context = {("ok",): -0.6, ("yes", "at 8 then"): -3.0, ("sure",): -1.0}
    _, tokenizer, fmt = tiny_model
    engine = ScriptedEngine(tokenizer, samples, in_context, without_context)
    # gains: ok -0.5+0.3=-0.2, "yes / at 8 then" -1.0+1.5=0.5, sure -0.8+0.5=-0.3; "Me: hi" is dropped
    assert choose_replies(engine, fmt, DIALOGUE, GEN, 4, n=3) == [["yes", "at 8 then"], ["ok"], ["sure"]]
    header = engine.scored_against[-1]
    assert (header.partner_name, header.relationship, header.turns) == ("Anna", "friend", (Turn("partner", ("",)),))


def test_one_kept_candidate_needs_no_scores_and_none_kept_gives_an_empty_reply(tiny_model):
    _, tokenizer, fmt = tiny_model
    lone = ScriptedEngine(tokenizer, [("sure",), ("Me: x",)], {}, {})
    assert choose_replies(lone, fmt, DIALOGUE, GEN, 2) == [["sure"]] and lone.scored_against == []
    assert choose_replies(ScriptedEngine(tokenizer, [("",)], {}, {}), fmt, DIALOGUE, GEN, 1) == [[]]


def test_gain_is_the_score_in_context_less_half_the_score_without():
    ranked = [Candidate(("a",), score=-1.0), Candidate(("b",), score=-1.2), Candidate(("c",), score=None)]
    chosen = by_context_gain(ranked, [-1.0, -2.0, -0.1])
    assert [c.messages for c in chosen] == [("b",), ("a",), ("c",)]
    assert [c.score for c in chosen] == [pytest.approx(-0.2), pytest.approx(-0.5), float("-inf")]
    assert context_gain(-1.0, None) == -1.0 and context_gain(None, -1.0) == float("-inf")
