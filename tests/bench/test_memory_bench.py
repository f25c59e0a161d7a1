"""The training table of `python -m bench.memory_bench training` (bench/memory_training.py): what it
reads of `eval --json`, what it prints where a figure is absent (a report from before the memory
figures, or an evaluation that did not measure them), and hits@1 compared context by context."""

from __future__ import annotations

import pytest

from bench.heldout_hits import paired
from bench.memory_training import Condition, reported, training_checks, training_table

WITH = {"hits_at_1": {"base": 0.1, "served": None, "new": 0.4}, "blind_judge_accuracy": 0.71, "memory": True,
        "memory_recall": {"on": 0.65, "off": 0.1, "fact_dependent": 212, "fact_in_memory": 190},
        "hits_at_1_memory": {"on": 0.4, "off": 0.35}}
WITHOUT = {"hits_at_1": {"base": 0.1, "served": None, "new": 0.38}, "blind_judge_accuracy": 0.7, "memory": False,
           "memory_recall": {"on": None, "off": 0.08, "fact_dependent": 212, "fact_in_memory": None},
           "hits_at_1_memory": {"on": None, "off": 0.38}}
OLD = {"hits_at_1": {"base": 0.1, "served": None, "new": 0.3}, "blind_judge_accuracy": None}


def _row(lines: list[str], name: str) -> list[str]:
    [line] = [line for line in lines if line.startswith(name)]
    return [cell.strip() for cell in line[len(name):].split("  ") if cell.strip()]


def test_the_table_shows_both_adapters_with_memory_on_and_off() -> None:
    with_memory = Condition(True, WITH, 600.0, [1.2, 1.0, 1.4], 3, [2.0, 4.0, 3.0])
    without = Condition(False, WITHOUT, 540.0, [0.9, 1.1, 1.0])
    table = training_table(with_memory, without)
    assert _row(table, "memory_recall (memory on / off)") == ["0.650 / 0.100", "0.080"]
    assert _row(table, "fact-dependent held-out turns") == ["212", "212"]
    assert _row(table, "fact-dependent turns with the fact in memory") == ["190 of 212", "none (memory off)"]
    assert _row(table, "hits@1 (memory on / off)") == ["0.400 / 0.350", "0.380"]
    assert _row(table, "hits@1, more held-out contexts (memory on / off)") == ["not measured / not measured",
                                                                             "not measured"]
    assert _row(table, "blind judge (0.5 = indistinguishable)") == ["0.710", "0.700"]
    assert _row(table, "reply p50, live path") == ["1.20 s; memory in 3 of 3 prompts",
                                                   "1.00 s; memory in 0 of 3 prompts"]
    assert _row(table, "retrieval per reply") == ["p50 3.00 ms, p95 3.90 ms", "none (memory off)"]
    assert _row(table, "training") == ["10.0 min", "9.0 min"]
    assert training_checks(with_memory, without) == [
        "memory_recall >= 0.6 with memory: PASS (without: 0.080)",
        "hits@1 with memory not worse than without: PASS",
        "retrieval p95 <= 50 ms per reply on this history: PASS (at 100k messages: the `retrieval` part)",
    ]


def test_figures_eval_does_not_report_print_not_measured() -> None:
    with_memory, without = Condition(True, OLD, None), Condition(False, OLD, None)
    table = training_table(with_memory, without)
    assert _row(table, "memory_recall (memory on / off)") == ["not measured / not measured", "not measured"]
    assert _row(table, "hits@1 (memory on / off)") == ["0.300 / not measured", "0.300"]  # the report's own hits@1
    assert _row(table, "reply p50, live path") == ["not measured", "not measured"]
    assert _row(table, "fact-dependent turns with the fact in memory") == ["not measured", "none (memory off)"]
    assert _row(table, "training") == ["not measured", "not measured"]
    checks = training_checks(with_memory, without)
    assert checks[0] == "memory_recall >= 0.6 with memory: not measured (without: not measured)"
    assert checks[2].startswith("retrieval p95 <= 50 ms per reply on this history: not measured")
    assert reported({"memory_recall": {"on": True}}, "memory_recall", "on") is None  # not a number


def test_hits_on_more_contexts_are_compared_context_by_context_and_decide_the_goal() -> None:
    # The gate's 32 contexts say "not worse" (0.40 >= 0.38); the wider measurement says otherwise.
    with_memory = Condition(True, WITH, 600.0, hits_on=[True, False, True, False], hits_off=[True, False, False, False])
    without = Condition(False, WITHOUT, 540.0, hits_off=[True, True, True, False])
    table = training_table(with_memory, without)
    assert _row(table, "hits@1, last 4 held-out contexts (memory on / off)") == ["0.500 / 0.250", "0.750"]
    assert _row(table, "contexts only this adapter ranks right") == ["0 (memory on)", "1"]
    # One context of four is chance: a 0.750 against a 0.500 there says nothing.
    assert training_checks(with_memory, without)[1] == (
        "hits@1 with memory not worse than without: PASS (0.500 vs 0.750; 0 vs 1 contexts only one ranks right, "
        "sign test p = 0.500)")


@pytest.mark.parametrize(("memory_only", "other_only", "verdict"),
                         [(2, 12, "FAIL"), (10, 12, "PASS"), (12, 10, "PASS")])
def test_hits_are_worse_only_when_the_contexts_one_arm_wins_split_unevenly(memory_only: int, other_only: int,
                                                                          verdict: str) -> None:
    shared = [True] * 50 + [False] * 20
    on = shared + [True] * memory_only + [False] * other_only
    off = shared + [False] * memory_only + [True] * other_only
    checks = training_checks(Condition(True, WITH, 600.0, hits_on=on), Condition(False, WITHOUT, 540.0, hits_off=off))
    assert checks[1].startswith(f"hits@1 with memory not worse than without: {verdict} (")
    assert f"{memory_only} vs {other_only} contexts only one ranks right" in checks[1]


def test_paired_hits_count_where_two_adapters_disagree() -> None:
    both = paired([True, True, False, False, True], [True, False, True, False, False])
    assert (both.contexts, both.first_only, both.second_only) == (5, 2, 1)
    assert both.second_better_p == 0.875  # at least 1 of 3 coin flips
    assert paired([True, False], [True, False]).second_better_p == 1.0  # they never disagree
    assert round(paired([False] * 12, [True] * 12).second_better_p, 6) == round(0.5 ** 12, 6)
    for first, second in (([True], [True, False]), ([], [])):
        with pytest.raises(ValueError, match="same contexts"):
            paired(first, second)
