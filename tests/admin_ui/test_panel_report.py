"""The panel's pure helpers on plain data: the playground's parser, draft text round trips, the
training report's frames and Markdown, the dashboard summary."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

from admin_ui.panel.dashboard import model_line, status_markdown
from admin_ui.panel.playground import parse_playground
from admin_ui.panel.training_report import (
    VOICE_COLUMNS,
    adapter_perplexity,
    hits_frame,
    learning_markdown,
    loss_frame,
    perplexity_frame,
    preference_markdown,
    run_summary,
    runs_trend_frame,
    samples_markdown,
    style_frames,
    voice_frame,
)
from application.drafting import compose_dialogue, draft_messages, editable_text, edited_messages, stored_text
from application.status import LastRun, SchedulerState, StatusCounts, StatusSnapshot, TelegramState, TrainingState
from model.dialogue import MESSAGE_SEPARATOR
from model.status import ModelStatus
from tests.admin_ui.conftest import REPORT
from training.data.preference_pairs import PreferencePairCounts
from training.fitting.preference import PreferenceStageResult
from training.runs.report import AdapterMetrics, RunReport, stored_report


def typed(report: dict) -> RunReport:
    """A stored report as the panel reads it."""
    found = stored_report(report)
    assert found is not None
    return found


def test_parse_playground_prefixes() -> None:
    text = "them: hi\n\nMe: hey\nwhat's up?\n> ok\n< and you\nя: да"
    assert parse_playground(text) == [
        ("partner", "hi"), ("owner", "hey"), ("partner", "what's up?"), ("owner", "ok"), ("partner", "and you"),
        ("owner", "да"),
    ]


def test_compose_dialogue_merges_turns() -> None:
    dialogue = compose_dialogue([("partner", "a"), ("partner", "b"), ("owner", "c"), ("partner", "d")], " friend ")
    turns = [(t.role, t.messages) for t in dialogue.turns]
    assert turns == [("partner", ("a", "b")), ("owner", ("c",)), ("partner", ("d",))]
    assert dialogue.relationship == "friend"


def test_draft_text_round_trip_matches_the_bots_storage() -> None:
    stored = stored_text(["first", "  second  ", ""])
    assert stored == f"first{MESSAGE_SEPARATOR}second"
    assert draft_messages(stored) == ["first", "second"]
    assert editable_text(draft_messages(stored)) == "first\nsecond"
    assert edited_messages("first\n\n  second edited \n") == ["first", "second edited"]


def test_report_frames() -> None:
    ppl = perplexity_frame(typed(REPORT))
    assert ppl.to_dict("records") == [{"model": "base", "perplexity": 20.25}, {"model": "new", "perplexity": 12.5}]
    shares, lengths = style_frames(typed(REPORT))
    assert shares.to_dict("records") == [{"metric": "emoji (gen)", "value": 0.1, "series": "generated"},
                                         {"metric": "emoji (real)", "value": 0.2, "series": "real"}]
    assert set(lengths["metric"]) == {"mean chars (gen)", "mean chars (real)"}
    assert perplexity_frame(None).empty and style_frames(None)[0].empty and style_frames(typed({"run_id": 1}))[0].empty
    assert loss_frame([[1, 2.0], [2, float("nan")], [3]]).to_dict("records") == [{"step": 1.0, "loss": 2.0}]


# A run report as `training.runs.report.RunReport.to_json` stores it (issue 10's voice evaluation), with
# the preference stage and the processes the run trained with.
VOICE_REPORT = {
    "world_size": 2,
    "preference": {"ran": True, "reason": "12 new pairs", "pairs_train": 10, "pairs_heldout": 2,
                   "accuracy_before": 0.5, "accuracy_after": 1.0, "steps": 6, "seconds": 41.7},
    "evaluation": {
        "perplexity": {"base": 40.0, "promoted": 20.0, "new": 10.0},
        "hits_at_1": {"base": 0.2, "promoted": None, "new": 0.45},
        "blind_judge_accuracy": 0.62, "style_distance": 0.3,
        "style": {"multi_message_share": {"generated": 0.4, "real": 0.5, "gap": 0.1}},
        "new": {"label": "new adapter", "blind_judge_accuracy": 0.62, "style_distance": 0.3,
                "style": {"multi_message_share": {"generated": 0.4, "real": 0.5, "gap": 0.1}}},
        "reference": {"label": "adapter a-1", "blind_judge_accuracy": 0.9, "style_distance": float("nan"),
                      "style": {"multi_message_share": {"generated": 0.1, "real": 0.5, "gap": 0.4}}},
        "samples": [{"context": [{"role": "partner", "speaker": "Ann", "messages": ["hi", "you there?"]}],
                     "real": ["yes"], "generated": ["yep"]}],
    },
    "promotion": {"promote": True, "reason": "better"},
}


def _run(run_id: int, report: dict | None) -> SimpleNamespace:
    return SimpleNamespace(id=run_id, status="succeeded", progress=1.0, preset="tiny", trigger="api", started_at=1,
                           finished_at=2, error=None, adapter_id=None, report=report)


def test_voice_and_per_model_frames() -> None:
    assert perplexity_frame(typed(VOICE_REPORT))["model"].tolist() == ["base", "served", "new"]
    hits = hits_frame(typed(VOICE_REPORT))
    assert hits.to_dict("records") == [{"model": "base", "hits_at_1": 0.2}, {"model": "new", "hits_at_1": 0.45}]
    voice = voice_frame(typed(VOICE_REPORT))
    assert dict(zip(voice["metric"], voice["value"], strict=True)) == {
        "blind judge (new)": 0.62, "blind judge (served)": 0.9, "style distance (new)": 0.3,
        "multi-message (new)": 0.4, "multi-message (served)": 0.1, "multi-message (real)": 0.5,
    }  # the served model's NaN distance is left out, not plotted as 0
    # older runs: no judge, no hits, a style distance from their style metrics (as `eval` shows it)
    old = voice_frame(typed(REPORT))
    assert old["metric"].tolist() == ["style distance (new)"] and list(voice_frame(None).columns) == VOICE_COLUMNS
    assert hits_frame(typed(REPORT)).empty and hits_frame(typed({"evaluation": {"hits_at_1": 3}})).empty


def test_voice_figures_across_runs() -> None:
    older = {"evaluation": {"new": {"label": "new adapter", "blind_judge_accuracy": 0.8}, "hits_at_1": {"new": 0.3}}}
    trend = runs_trend_frame({5: typed(VOICE_REPORT), 2: typed(older), 3: None, 4: typed(REPORT)})
    assert trend[trend["run"] == 2][["metric", "value"]].values.tolist() == [["blind judge", 0.8], ["hits@1", 0.3]]
    assert trend["run"].tolist()[:2] == [2, 2] and set(trend["run"]) == {2, 4, 5}
    assert trend[trend["run"] == 4]["metric"].tolist() == ["style distance"]
    last = trend[trend["run"] == 5]
    assert dict(zip(last["metric"], last["value"], strict=True)) == {
        "blind judge": 0.62, "style distance": 0.3, "hits@1": 0.45, "multi-message (new)": 0.4,
        "multi-message (real)": 0.5}
    assert runs_trend_frame({}).empty


def test_preference_stage_and_processes_in_the_summary() -> None:
    assert preference_markdown(typed(VOICE_REPORT).preference) == (
        "Preference stage: 10 pairs trained, 2 held out · held-out preference accuracy 50% → 100% · 6 steps · 42 s.")
    assert preference_markdown(typed(REPORT).preference) == preference_markdown(None) == "Preference stage: not run."
    skipped = PreferenceStageResult(False, "3 new pairs, 20 needed", 0, 0, None, None, 0, 0.0)
    assert preference_markdown(skipped) == "Preference stage: not run (3 new pairs, 20 needed)."
    summary = run_summary(_run(9, VOICE_REPORT), typed(VOICE_REPORT))  # type: ignore[arg-type]
    assert "· 2 processes" in summary and "accuracy 50% → 100%" in summary
    assert "process" not in run_summary(_run(9, REPORT), typed(REPORT))  # type: ignore[arg-type]
    assert "*partner*: hi / you there?" in samples_markdown(typed(VOICE_REPORT))
    text = learning_markdown(PreferencePairCounts(total=7, unused=3, edited=5, own_reply=2), typed(VOICE_REPORT))
    assert "7 preference pairs (5 edited before sending, 2 answered yourself instead), 3 not yet trained on" in text
    assert "Latest run — Preference stage: 10 pairs" in text


def test_run_summary_and_samples() -> None:
    run = SimpleNamespace(id=3, status="succeeded", progress=1.0, preset="tiny", trigger="api", started_at=1,
                          finished_at=2, error=None, adapter_id="a-3", report=REPORT)
    summary = run_summary(run, typed(REPORT))  # type: ignore[arg-type]
    assert "Run 3" in summary and "promoted" in summary and "a-3" in summary
    table = samples_markdown(typed({"evaluation": {"samples": [{"context": [{"role": "partner", "text": "a|b"}],
                                                                "real": ["x"], "generated": ["y"]}]}}))
    assert "a\\|b" in table and "| x | y |" in table.replace("<br>", "")
    assert "No samples" in samples_markdown(None)


def _snapshot(**changes: object) -> StatusSnapshot:
    snapshot = StatusSnapshot(
        counts=StatusCounts(chats=3, messages=4, owner_messages=1, pending_drafts=2, auto_chats=1, draft_chats=0,
                            adapters=0),
        autoreply_enabled=False, adapter=None, owner_id=None,
        telegram=TelegramState(configured=False, connected=False),
        training=TrainingState(available=True, running=False, last_run=None, processes=1),
        scheduler=SchedulerState(cron=None, interval_hours=None, min_new_messages=0, enabled=False, next_run=None),
        model=ModelStatus(backend="local", state="ready", base_model="tiny", device="cpu"),
        database="db.sqlite", preference_pairs=PreferencePairCounts(total=5, unused=2, edited=4, own_reply=1),
    )
    return replace(snapshot, **changes)  # type: ignore[arg-type]


def test_status_markdown() -> None:
    text = status_markdown(_snapshot())
    assert "**off** (global stop)" in text and "offline" in text and "base model" in text
    assert "| **Pending drafts** | 2 |" in text
    assert "| **Preference pairs** | 5 (2 not yet trained on) |" in text
    assert "processes" not in text
    running = LastRun(id=7, status="running", progress=0.25, adapter_id=None, started_at=1, finished_at=None,
                      error=None)
    text = status_markdown(_snapshot(
        training=TrainingState(available=True, running=True, last_run=running, processes=2), model=None))
    assert "run 7 running, 25% · 2 processes per run" in text and "not running in this process" in text


def test_model_line() -> None:
    local = ModelStatus(backend="local", state="ready", base_model="bundled:smollm2-135m", device="cpu",
                        last_latency_s=1.25)
    assert model_line(local) == "bundled:smollm2-135m · **ready** · local · cpu · last reply 1.2 s"
    ct2 = ModelStatus(backend="local", state="ready", base_model="tiny", device="cpu", engine="ct2", dtype="int8")
    assert model_line(ct2) == "tiny · **ready** · local · ct2 int8 · cpu"
    remote = ModelStatus(backend="openai", state="error", base_model="qwen", device="remote",
                         error="connection refused")
    assert "qwen" in model_line(remote) and "connection refused" in model_line(remote)


def test_adapter_perplexity_reads_both_shapes() -> None:
    assert adapter_perplexity(AdapterMetrics.from_json({"perplexity": {"new": 12.5}})) == "12.500"
    assert adapter_perplexity(AdapterMetrics.from_json({"perplexity": 7})) == "7.000"
    assert adapter_perplexity(AdapterMetrics()) == ""
    assert adapter_perplexity(AdapterMetrics.from_json({"perplexity": float("nan")})) == ""
