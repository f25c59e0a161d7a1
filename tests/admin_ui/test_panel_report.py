"""The panel's pure helpers on plain data: the playground's parser, draft text round trips, the
training report's frames and Markdown, the dashboard summary."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

from admin_ui.drafting import compose_dialogue, draft_messages, editable_text, edited_messages, stored_text
from admin_ui.panel.dashboard import model_line, status_markdown
from admin_ui.panel.playground import parse_playground
from admin_ui.panel.training_report import (
    adapter_perplexity,
    loss_frame,
    perplexity_frame,
    run_summary,
    samples_markdown,
    style_frames,
)
from model.dialogue import MESSAGE_SEPARATOR
from model.status import ModelStatus
from product_status import LastRun, SchedulerState, StatusCounts, StatusSnapshot, TelegramState, TrainingState
from tests.admin_ui.conftest import REPORT
from training.preference_pairs import PreferencePairCounts


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
    ppl = perplexity_frame(REPORT)
    assert ppl.to_dict("records") == [{"model": "new", "perplexity": 12.5}, {"model": "base", "perplexity": 20.25}]
    shares, lengths = style_frames(REPORT)
    assert shares.to_dict("records") == [{"metric": "emoji (gen)", "value": 0.1, "series": "generated"},
                                         {"metric": "emoji (real)", "value": 0.2, "series": "real"}]
    assert set(lengths["metric"]) == {"mean chars (gen)", "mean chars (real)"}
    assert perplexity_frame(None).empty and style_frames({})[0].empty
    assert loss_frame([[1, 2.0], [2, float("nan")], [3]]).to_dict("records") == [{"step": 1.0, "loss": 2.0}]


def test_run_summary_and_samples() -> None:
    run = SimpleNamespace(id=3, status="succeeded", progress=1.0, preset="tiny", trigger="api", started_at=1,
                          finished_at=2, error=None, adapter_id="a-3", report=REPORT)
    summary = run_summary(run)
    assert "Run 3" in summary and "promoted" in summary and "a-3" in summary
    table = samples_markdown({"evaluation": {"samples": [{"context": [{"role": "partner", "text": "a|b"}],
                                                          "real": ["x"], "generated": ["y"]}]}})
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
    running = LastRun(id=7, status="running", progress=0.25, adapter_id=None, started_at=1, finished_at=None, error=None)
    text = status_markdown(_snapshot(
        training=TrainingState(available=True, running=True, last_run=running, processes=2), model=None))
    assert "run 7 running, 25% · 2 processes per run" in text and "not running in this process" in text


def test_model_line() -> None:
    local = ModelStatus(backend="local", state="ready", base_model="bundled:smollm2-135m", device="cpu",
                        last_latency_s=1.25)
    assert model_line(local) == "bundled:smollm2-135m · **ready** · local · cpu · last reply 1.2 s"
    remote = ModelStatus(backend="openai", state="error", base_model="qwen", device="remote",
                         error="connection refused")
    assert "qwen" in model_line(remote) and "connection refused" in model_line(remote)


def test_adapter_perplexity_reads_both_shapes() -> None:
    assert adapter_perplexity({"perplexity": {"new": 12.5}}) == "12.500"
    assert adapter_perplexity({"perplexity": 7}) == "7.000"
    assert adapter_perplexity({}) == "" and adapter_perplexity({"perplexity": float("nan")}) == ""
