"""Candidate filters (pure) and likelihood ranking (tiny model): model.candidates."""

from __future__ import annotations

import pytest

from model.candidates import (
    Candidate,
    drop_reason,
    filter_candidates,
    has_markers,
    is_echo,
    keep_sampled_rhythm,
    markers_for,
    repeats_itself,
)
from model.dialogue import Dialogue, Turn, join_messages
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



def test_the_first_kept_sample_decides_the_rhythm_and_the_ranking_the_content():
    sampled = [Candidate(("hey",), dropped="echo"), Candidate(("ok", "see you")), Candidate(("sure",)),
               Candidate(("yes", "at 8"))]
    ranked = [Candidate(("sure",), score=-0.5), Candidate(("yes", "at 8"), score=-1.0),
              Candidate(("ok", "see you"), score=-2.0)]
    # The first kept sample has two messages: the best two-message reply wins over a better-scored single one.
    assert [c.messages for c in keep_sampled_rhythm(sampled, ranked)] == [("yes", "at 8"), ("ok", "see you"), ("sure",)]
    single_first = [Candidate(("sure",)), Candidate(("ok", "see you"))]
    assert keep_sampled_rhythm(single_first, ranked)[0].messages == ("sure",)
    assert keep_sampled_rhythm([Candidate(("x",), dropped="empty")], []) == []
