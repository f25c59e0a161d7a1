"""The gate's criteria (training.runs.promotion.decide) and the typed run report round trip."""

from __future__ import annotations

from training.evaluation.style import StyleReport
from training.runs.promotion import Margins, PromotionDecision, Scores, decide
from training.runs.report import (
    EvaluationReport,
    GeneratedStyle,
    PerModel,
    RunReport,
    Sample,
    SampleTurn,
    eval_json,
)

SERVED = Scores(perplexity=10.0, blind_judge_accuracy=0.70, style_distance=0.30, hits_at_1=0.40)
MARGINS = Margins(perplexity=0.0, judge=0.05, style=0.05, min_contexts=3)


def gate(**new):
    scores = {"perplexity": 8.0, "blind_judge_accuracy": 0.70, "style_distance": 0.30, "hits_at_1": 0.40, **new}
    return decide(Scores(**scores), SERVED, MARGINS, "adapter a")


def test_all_criteria_pass():
    decision = gate()
    assert decision.promote and decision.criterion == "all"
    assert "blind judge 0.700 vs 0.700" in decision.reason


def test_each_criterion_can_refuse():
    assert gate(perplexity=10.5).criterion == "perplexity" and not gate(perplexity=10.5).promote
    judge = gate(blind_judge_accuracy=0.76)
    assert not judge.promote and judge.criterion == "blind_judge"
    assert gate(blind_judge_accuracy=0.74).promote  # within the margin
    style = gate(style_distance=0.36)
    assert not style.promote and style.criterion == "style_distance"
    hits = gate(hits_at_1=0.39)
    assert not hits.promote and hits.criterion == "hits_at_1"
    assert gate(blind_judge_accuracy=0.5, style_distance=0.1, hits_at_1=0.9).promote  # better is fine


def test_unmeasured_voice_does_not_block_and_says_so():
    decision = decide(Scores(8.0, None, 0.2, None), Scores(10.0, 0.7, 0.3, None), MARGINS, "base model")
    assert decision.promote and "blind judge not judged" in decision.reason and "hits@1 not judged" in decision.reason


def test_other_base_and_missing_perplexity():
    assert decide(Scores(8.0), SERVED, MARGINS, "a", servable=False).criterion == "servable"
    missing = decide(Scores(None), SERVED, MARGINS, "a")
    assert not missing.promote and missing.criterion == "perplexity"
    assert decide(Scores(8.0), Scores(None), MARGINS, "base model").promote  # nothing comparable served


def test_run_report_round_trips_and_keeps_the_panel_keys():
    style = StyleReport({"lowercase_share": 0.5, "mean_chars": 10.0}, {"lowercase_share": 1.0, "mean_chars": 12.0},
                        0.33)
    evaluation = EvaluationReport(
        heldout_examples=5, scored_tokens=40, perplexity=PerModel(50.0, None, 4.0), hits_at_1=PerModel(0.1, None, 0.3),
        generated=5, generation_seconds=1.5, new=GeneratedStyle("new adapter", 0.6, style),
        reference=GeneratedStyle("base model", 0.9, style),
        samples=(Sample((SampleTurn("partner", "Anna", ("hi",)),), ("hey",), ("yo",)),),
    )
    report = RunReport(1, "tiny", {"name": "tiny"}, {"train": 3}, {"steps": 2}, evaluation,
                       PromotionDecision(True, "ok", "base model", "all"))
    data = report.to_json()
    assert data["evaluation"]["perplexity"] == {"base": 50.0, "promoted": None, "new": 4.0}
    assert data["evaluation"]["style"]["lowercase_share"] == {"generated": 0.5, "real": 1.0, "gap": 0.5}
    assert data["promotion"]["promote"] and data["promotion"]["criterion"] == "all"
    assert RunReport.from_json(data) == report
    summary = eval_json("a1", data, {})
    assert summary["perplexity"] == {"base": 50.0, "served": None, "new": 4.0}
    assert summary["blind_judge_accuracy"] == 0.6 and summary["style_distance"] == 0.33 and summary["generated"] == 5
    assert summary["hits_at_1"]["new"] == 0.3


def test_an_old_record_still_loads():
    old = {"run_id": 3, "adapter_base_model": "tiny", "preset": {"name": "tiny"}, "data": {}, "fit": {},
           "evaluation": {"heldout_examples": 2, "scored_tokens": 9,
                          "perplexity": {"base": 9.0, "promoted": None, "new": 3.0},
                          "style": {"mean_chars": {"generated": 4.0, "real": 2.0, "gap": 2.0}}, "samples": []},
           "promotion": {"promote": True, "reason": "ppl", "reference": "base model"}}
    report = RunReport.from_json(old)
    assert report.evaluation.style_distance == 0.5 and report.evaluation.blind_judge_accuracy is None
    assert report.promotion is not None and report.promotion.criterion == "perplexity"
    assert eval_json("x", None, {"perplexity": {"new": 2.0}})["perplexity"]["new"] == 2.0


def test_run_gate_compares_with_the_served_models_measured_voice():
    from pathlib import Path

    from training.evaluation.evaluate import Reference
    from training.runs.run import gate

    style = StyleReport({"a": 1.0}, {"a": 1.0}, 0.10)
    worse = StyleReport({"a": 1.0}, {"a": 1.0}, 0.40)
    evaluation = EvaluationReport(3, 10, PerModel(20.0, 9.0, 8.0), PerModel(0.1, 0.3, 0.3), generated=5,
                                  new=GeneratedStyle("new adapter", 0.6, worse),
                                  reference=GeneratedStyle("adapter a1", 0.6, style))
    decision = gate(evaluation, Reference("a1", Path("/nowhere")), MARGINS, servable=True)
    assert not decision.promote and decision.criterion == "style_distance" and decision.reference == "adapter a1"
    # no adapter served: the base model is the reference, and its perplexity is what must be beaten
    base_eval = EvaluationReport(3, 10, PerModel(20.0, None, 8.0), PerModel(0.1, None, 0.3), generated=5,
                                 new=GeneratedStyle("new adapter", 0.6, style),
                                 reference=GeneratedStyle("base model", 0.9, worse))
    decision = gate(base_eval, None, MARGINS, servable=True)
    assert decision.promote and decision.criterion == "all" and "blind judge 0.600 vs 0.900" in decision.reason


def test_too_few_contexts_leave_the_voice_unjudged():
    new = Scores(8.0, 0.99, 0.9, 0.0)
    assert not decide(new, SERVED, MARGINS, "a", contexts=3).promote
    decision = decide(new, SERVED, MARGINS, "a", contexts=2)
    assert decision.promote and decision.criterion == "perplexity" and "voice not judged: 2" in decision.reason
