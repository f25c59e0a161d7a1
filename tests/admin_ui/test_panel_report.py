"""The panel's pure helpers on plain data: the playground's parser, draft text round trips, the
training report's frames and Markdown, the dashboard summary."""

from __future__ import annotations

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
from tests.admin_ui.conftest import REPORT


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


def test_status_markdown() -> None:
    snapshot = {
        "counts": {"chats": 3, "messages": 4, "owner_messages": 1, "pending_drafts": 2, "auto_chats": 1,
                   "draft_chats": 0},
        "autoreply_enabled": False, "model": {"base_model": "tiny", "state": "ready", "device": "cpu"}, "adapter": None,
        "telegram": {"configured": False, "connected": False},
        "training": {"available": True, "running": False, "last_run": None},
        "scheduler": {"enabled": False},
    }
    text = status_markdown(snapshot)
    assert "**off** (global stop)" in text and "offline" in text and "base model" in text
    assert "| **Pending drafts** | 2 |" in text


def test_model_line_reads_both_backends() -> None:
    local = model_line({"backend": "local", "base": "bundled:smollm2-135m", "state": "ready", "device": "cpu",
                        "last_latency_s": 1.25})
    assert local == "bundled:smollm2-135m · **ready** · local · cpu · last reply 1.2 s"
    remote = model_line({"backend": "openai", "base_model": "qwen", "state": "error",
                         "last_error": "connection refused"})
    assert "qwen" in remote and "connection refused" in remote


def test_adapter_perplexity_reads_both_shapes() -> None:
    assert adapter_perplexity({"perplexity": {"new": 12.5}}) == "12.500"
    assert adapter_perplexity({"perplexity": 7}) == "7.000"
    assert adapter_perplexity({}) == "" and adapter_perplexity({"perplexity": float("nan")}) == ""
