"""The gate's criteria (training.runs.promotion.decide), and the typed run report: its round trip, the
keys the API shows, and records of older versions."""

from __future__ import annotations

import json
from collections import Counter

from training.config import TrainConfig
from training.data.coverage import Coverage, FullPassEstimate
from training.data.dataset import DatasetStats
from training.data.sequences import SequenceStats
from training.evaluation.report import EvalTiming, EvaluationReport, GeneratedStyle, PerModel, Sample, SampleTurn
from training.evaluation.style import StyleReport
from training.fitting.preference import PreferenceStageResult
from training.runs.promotion import Margins, PromotionDecision, Scores, decide
from training.runs.report import (
    AdapterMetrics,
    ContinualSummary,
    FitSummary,
    RunReport,
    eval_json,
    skip_note,
    stored_report,
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


def _full_report() -> RunReport:
    """A report with every section, as a run of this version writes it."""
    style = StyleReport({"lowercase_share": 0.5, "mean_chars": 10.0}, {"lowercase_share": 1.0, "mean_chars": 12.0},
                        0.33)
    evaluation = EvaluationReport(
        heldout_examples=5, scored_tokens=40, perplexity=PerModel(50.0, None, 4.0), hits_at_1=PerModel(0.1, None, 0.3),
        generated=5, generation_seconds=1.5, new=GeneratedStyle("new adapter", 0.6, style),
        reference=GeneratedStyle("base model", 0.9, style),
        samples=(Sample((SampleTurn("partner", "Anna", ("hi",)),), ("hey",), ("yo",)),),
        timing=EvalTiming(3.0, perplexity=1.0, generation=2.0, cached_lookups=4, measured_lookups=6),
    )
    coverage = Coverage("a1", owner_turns=10, learned=4, learned_last_run=4, replayed_last_run=1,
                        estimate=FullPassEstimate(6, 600, 200.0, 0.1, 2))
    return RunReport(
        1, "tiny", TrainConfig(name="tiny", max_steps=4, time_budget_minutes=0.5),
        DatasetStats(chats=2, examples=9, train=7, heldout=2, redactions=Counter({"phone": 1})),
        FitSummary(4, 6.0, 300, 320, 0.9375, 50.0, None, 2.5, False, 7, 2.286),
        evaluation, PromotionDecision(True, "ok", "base model", "all"), world_size=2,
        sequences=SequenceStats(7, 320, 90, 7, 7, 0),
        preference=PreferenceStageResult(True, "3 new pairs", 2, 1, 0.5, 1.0, 6, 4.25, 0.6),
        coverage=ContinualSummary("a0", "continues a0", 7, 7, 3, 1, 40.0, coverage),
    )


def test_run_report_round_trips_and_keeps_the_keys_the_api_shows():
    report = _full_report()
    data = json.loads(json.dumps(report.to_json()))  # through real JSON, as the run row stores it
    assert set(data) == {"run_id", "adapter_base_model", "preset", "data", "fit", "evaluation", "promotion",
                         "world_size", "sequences", "preference", "coverage"}
    assert data["evaluation"]["perplexity"] == {"base": 50.0, "promoted": None, "new": 4.0}
    assert data["evaluation"]["style"]["lowercase_share"] == {"generated": 0.5, "real": 1.0, "gap": 0.5}
    assert data["promotion"]["promote"] and data["promotion"]["criterion"] == "all"
    assert set(data["fit"]) == {"steps", "seconds", "real_tokens", "total_positions", "real_token_share",
                                "tokens_per_second", "resumed_from", "final_loss", "stopped_by_budget", "train_rows",
                                "epochs_covered"}
    assert data["preset"]["name"] == "tiny" and data["preset"]["replay_share"] == 0.2
    assert data["data"]["redactions"] == {"phone": 1} and data["sequences"]["loss_token_share"] == 0.2812
    assert data["coverage"]["new_turns"] == 3 and data["coverage"]["share"] == 0.4
    assert data["coverage"]["estimate"]["runs"] == 2 and data["preference"]["pairs_train"] == 2
    assert RunReport.from_json(data) == report
    assert stored_report(data) == report
    summary = eval_json("a1", report, report.adapter_metrics())
    assert summary["perplexity"] == {"base": 50.0, "served": None, "new": 4.0}
    assert summary["blind_judge_accuracy"] == 0.6 and summary["style_distance"] == 0.33 and summary["generated"] == 5
    assert summary["hits_at_1"]["new"] == 0.3 and summary["world_size"] == 2
    assert summary["cost"] == {"train_seconds": 6.0, "eval_seconds": 3.0, "eval_share_of_train": 0.5,
                               "train_budget_seconds": 30.0, "eval_share_of_budget": 0.1}
    metrics = report.adapter_metrics()
    assert AdapterMetrics.from_json(json.loads(json.dumps(metrics.to_json()))) == metrics


# A run report as the first version stored it (commit f5b943b: `save_and_evaluate` and
# `evaluate_adapter` then): no hits@1, voice, timing, preference stage, coverage or world size; a
# fit without its budget figures; sample turns with `text`; the preset's fields of that time.
FIRST_VERSION_REPORT = {
    "run_id": 3, "adapter_base_model": "tiny",
    "preset": {"name": "tiny", "description": "", "base_model": None, "quantization": "none", "lora_r": 8,
               "lora_alpha": 16, "lora_dropout": 0.05, "target_modules": "all-linear", "epochs": 1.0, "max_steps": 4,
               "learning_rate": 2e-4, "lr_scheduler": "cosine", "warmup_ratio": 0.03, "weight_decay": 0.0,
               "batch_size": 4, "grad_accum": 1, "max_length": 512, "packing": True, "gradient_checkpointing": False,
               "bf16": False, "seed": 42, "logging_steps": 5, "save_steps": 50, "eval_max_examples": 200,
               "eval_generate": 12, "eval_samples": 3, "extra": {}},
    "data": {"chats": 2, "examples": 10, "train": 8, "heldout": 2, "owner_initiated": 1, "blocked": 0,
             "redactions": {"phone": 1}, "first_date": 1, "last_date": 9},
    "fit": {"steps": 4, "seconds": 1.5, "real_tokens": 300, "total_positions": 320, "real_token_share": 0.9375,
            "tokens_per_second": 213.3, "resumed_from": None, "final_loss": 2.5},
    "evaluation": {"heldout_examples": 2, "scored_tokens": 9, "perplexity": {"new": 3.0, "base": 9.0, "promoted": None},
                   "style": {"mean_chars": {"generated": 4.0, "real": 2.0, "gap": 2.0}},
                   "samples": [{"context": [{"role": "partner", "speaker": "Ann", "text": "hi"}], "real": ["hey"],
                                "generated": ["yo"]}]},
    "promotion": {"promote": True, "reason": "ppl", "reference": "base model"},
}


def test_a_report_of_the_first_version_still_loads():
    report = stored_report(FIRST_VERSION_REPORT)
    assert report is not None and report.run_id == 3
    assert report.preset == TrainConfig(name="tiny", max_steps=4)  # settings added since take their defaults
    assert report.data is not None and report.data.redactions == {"phone": 1} and report.data.excluded_bot_messages == 0
    assert report.fit is not None and (report.fit.final_loss, report.fit.train_rows, report.fit.epochs_covered) == (
        2.5, None, None)
    e = report.evaluation
    assert e.style_distance == 0.5 and e.blind_judge_accuracy is None and e.hits_at_1 == PerModel()
    assert e.timing is None and e.samples[0].context[0].messages == ("hi",)
    assert report.promotion is not None and report.promotion.criterion == "perplexity"
    assert (report.world_size, report.sequences, report.preference, report.coverage) == (None, None, None, None)
    summary = eval_json("x", report, AdapterMetrics())
    assert set(summary) == set(eval_json("a1", _full_report(), AdapterMetrics()))  # the same keys, older or not
    assert summary["world_size"] is None and summary["preference"] is None and summary["coverage"] is None
    assert summary["cost"]["train_seconds"] == 1.5 and summary["cost"]["train_budget_seconds"] is None


def test_sections_a_record_lacks_or_cannot_hold_read_as_none():
    assert stored_report(None) is None and stored_report({}) is None
    assert stored_report(skip_note("too few new messages")) is None  # a skipped run has no report to show
    bare = RunReport.from_json({"evaluation": {"perplexity": {"new": 2.0}}})
    assert (bare.preset, bare.data, bare.fit, bare.promotion) == (None, None, None, None)
    assert bare.evaluation.perplexity == PerModel(new=2.0)
    refused = RunReport.from_json({"preset": {"name": "old", "lora_r": 0}})  # today's checks refuse it
    assert refused.preset is None  # a record is shown, never rerun
    assert RunReport.from_json({"preset": {"name": "old", "a_removed_setting": 1}}).preset == TrainConfig(name="old")
    assert RunReport.from_json({"world_size": True}).world_size is None


def test_adapter_metrics_read_every_stored_shape():
    assert AdapterMetrics.from_json({"perplexity": {"new": 12.5}}).perplexity.new == 12.5
    assert AdapterMetrics.from_json({"perplexity": 7}).perplexity == PerModel(new=7.0)  # older rows: the figure alone
    assert AdapterMetrics.from_json({}) == AdapterMetrics.from_json(None) == AdapterMetrics()
    assert eval_json("x", None, AdapterMetrics.from_json({"perplexity": {"new": 2.0}}))["perplexity"]["new"] == 2.0


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
