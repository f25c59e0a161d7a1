"""The blind judge (training.evaluation.judge) and hits@1's pure parts (training.evaluation.hits)."""

from __future__ import annotations

from training.evaluation.hits import DISTRACTORS, is_hit, sample_distractors
from training.evaluation.judge import MIN_PER_CLASS, blind_judge_accuracy


def test_judge_needs_enough_replies():
    assert blind_judge_accuracy([["ok"]] * (MIN_PER_CLASS - 1), [["Ok."]] * 50) is None
    assert blind_judge_accuracy([["ok"]] * 50, []) is None


def test_judge_tells_apart_what_differs_and_not_what_does_not():
    real = [[f"ну да) {i}"] for i in range(20)]
    obvious = [[f"Certainly! Here is reply number {i}."] for i in range(20)]
    assert blind_judge_accuracy(real, obvious) == 1.0
    same = blind_judge_accuracy(real, [list(r) for r in real])
    assert same is not None and same <= 0.6  # identical texts cannot be told apart (~0.5 or below)


def test_distractors_are_seeded_distinct_and_never_the_real_reply():
    pool = [("ok",), ("OK",), ("yes",), ("no",), ("maybe",)] + [(f"reply {i}",) for i in range(20)]
    first = sample_distractors(["ok"], pool, index=3)
    assert first == sample_distractors(["ok"], pool, index=3)  # reproducible
    assert first != sample_distractors(["ok"], pool, index=4)
    assert len(first) == DISTRACTORS and len(set(first)) == DISTRACTORS
    assert all(d[0].casefold() != "ok" for d in first)
    assert sorted(sample_distractors(["ok"], pool[:4], index=0)) == [("no",), ("yes",)]  # a small pool: what there is


def test_a_hit_needs_the_real_reply_strictly_first():
    assert is_hit([-1.0, -2.0, -3.0])
    assert not is_hit([-2.0, -1.0])
    assert not is_hit([-1.0, -1.0])  # a tie is not a hit
    assert is_hit([-1.0, None])
    assert not is_hit([None, -5.0])
