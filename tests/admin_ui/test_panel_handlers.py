"""The panel's tab handlers as plain async functions over the seeded database and the fakes: no
Gradio, no browser, no HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from admin_ui.panel import activity, chats, dashboard, drafts, playground, training
from admin_ui.panel.common import NothingChosen, PanelContext
from application.errors import DraftClosed, InvalidDialogue, UploadNotFromPanel
from application.uploads import panel_uploads_dir
from bot.timing import DEFAULT_ANSWER_DELAY_SECONDS, DEFAULT_CHARS_PER_SECOND, DEFAULT_TURN_GAP_SECONDS
from storage import InvalidValue, MessageRow, NotFound, kv
from storage import chats as chat_queries
from storage import messages as message_queries
from storage import replies as reply_queries
from tests.admin_ui.conftest import ALICE, EMPTY, NOW, PanelEnv
from tests.admin_ui.test_api import EXPORT


@pytest.fixture
def ctx(env: PanelEnv) -> PanelContext:
    return PanelContext(env.services, env.client.app.state.jobs)  # type: ignore[attr-defined]


def test_tab_modules_do_not_import_gradio() -> None:
    code = ("import sys, admin_ui.panel.chats, admin_ui.panel.drafts, admin_ui.panel.training, "
            "admin_ui.panel.dashboard, admin_ui.panel.playground, admin_ui.panel.activity; "
            "sys.exit('gradio' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[2]).returncode == 0


def test_dashboard_and_the_switch(env: PanelEnv, ctx: PanelContext) -> None:
    view = env.call(dashboard.dashboard_view, ctx)
    assert view.autoreply_enabled is True and "| **Chats** | 3 (0 auto, 0 draft) |" in view.status
    assert list(view.jobs.columns) == dashboard.JOB_COLUMNS and view.jobs.empty
    status = env.call(dashboard.set_autoreply, ctx, False)
    assert "**off** (global stop)" in status
    assert env.call(kv.get_value, env.services.db, kv.AUTOREPLY_ENABLED) is False


def test_dashboard_import_needs_a_panel_upload_and_starts_a_job(
    env: PanelEnv, ctx: PanelContext, tmp_path: Path
) -> None:
    with pytest.raises(NothingChosen, match="result.json"):
        env.call(dashboard.import_export, ctx, None)
    elsewhere = tmp_path / "result.json"
    elsewhere.write_text(json.dumps(EXPORT))
    upload = panel_uploads_dir(env.services.settings) / "0a1b" / "result.json"  # where Gradio puts one
    upload.parent.mkdir(parents=True)
    link = upload.parent / "link.json"  # inside the upload dir, pointing out of it
    link.symlink_to(elsewhere)
    for refused in (elsewhere, link):
        with pytest.raises(UploadNotFromPanel, match="uploaded through this panel"):
            env.call(dashboard.import_export, ctx, str(refused))
    assert elsewhere.exists() and ctx.jobs.list() == []  # refused, and left alone
    link.unlink()
    upload.write_text(json.dumps(EXPORT))
    job = env.call(dashboard.import_export, ctx, str(upload))
    done = env.call(ctx.jobs.wait, job.id)
    assert done.status == "succeeded" and done.result and done.result["messages_added"] == 2
    assert not upload.parent.exists()  # deleted after the import
    assert dashboard.jobs_frame(ctx)["job"].tolist() == [job.id]
    assert env.call(dashboard.harvest, ctx).kind == "harvest"


def test_chats_search_pick_and_save(env: PanelEnv, ctx: PanelContext) -> None:
    found = env.call(chats.chats_table, ctx, " ali ")
    assert found.table["id"].tolist() == [ALICE] and found.choices == [(f"Alice · off · {ALICE}", ALICE)]
    form = env.call(chats.chat_form, ctx, str(ALICE))  # typed into the dropdown: a string
    assert (form.mode, form.relationship, form.train) == ("off", "", "default")
    assert "**Alice**" in form.stats and "Messages: 3 (1 yours)" in form.stats and "skipped 1" in form.stats
    stats = env.call(chats.save_chat, ctx, ALICE, "draft", " family ", "no")
    assert "**Alice**" in stats
    chat = env.call(chat_queries.get_chat, env.services.db, ALICE)
    assert (chat.reply_mode, chat.relationship, chat.train) == ("draft", "family", False)
    with pytest.raises(NothingChosen, match="chat"):
        env.call(chats.chat_form, ctx, "")
    with pytest.raises(NothingChosen, match="training"):
        env.call(chats.save_chat, ctx, ALICE, "auto", "", "maybe")
    assert env.call(chat_queries.get_chat, env.services.db, ALICE).reply_mode == "draft"  # nothing half-saved


def test_chats_show_and_confirm_a_relationship_suggestion(env: PanelEnv, ctx: PanelContext) -> None:
    form = env.call(chats.chat_form, ctx, ALICE)
    assert form.suggestion == "" and form.can_confirm is False
    with pytest.raises(InvalidValue, match="no relationship suggestion"):
        env.call(chats.confirm_relationship, ctx, ALICE)
    env.call(chat_queries.set_relationship_suggestion, env.services.db, ALICE, "family", "title says Mom")
    assert env.call(chats.chats_table, ctx, "").table.set_index("id").loc[ALICE, "suggested"] == "family"
    form = env.call(chats.chat_form, ctx, ALICE)
    assert "**family**" in form.suggestion and "title says Mom" in form.suggestion and form.can_confirm
    assert form.relationship == ""  # a suggestion is not the relationship until confirmed
    confirmed = env.call(chats.confirm_relationship, ctx, str(ALICE))
    assert confirmed.relationship == "family" and not confirmed.can_confirm and "confirmed" in confirmed.suggestion
    assert env.call(chat_queries.get_chat, env.services.db, ALICE).relationship == "family"
    assert env.call(chats.chats_table, ctx, "").table.set_index("id").loc[ALICE, "suggested"] == ""
    with pytest.raises(NotFound):
        env.call(chats.confirm_relationship, ctx, 999)


def test_chat_pace_from_history_or_defaults(env: PanelEnv, ctx: PanelContext) -> None:
    # the seeded history is too short to learn from: every quantity is the documented default
    pace = env.call(chats.chat_form, ctx, ALICE).pace
    assert list(pace.columns) == chats.PACE_COLUMNS
    assert pace["learned from"].tolist() == ["defaults (too little history)"] * 3
    assert pace["median"].tolist() == [DEFAULT_ANSWER_DELAY_SECONDS, DEFAULT_CHARS_PER_SECOND,
                                       DEFAULT_TURN_GAP_SECONDS]
    # Bob answers in 20 s, twice per turn, 10 s apart: his own pace; Alice falls back to it
    rows = []
    for i in range(6):
        t = NOW + 10_000 * (i + 1)
        rows += [MessageRow(EMPTY, 3 * i + 1, EMPTY, "Bob", False, t, "hey?"),
                 MessageRow(EMPTY, 3 * i + 2, None, None, True, t + 20, "hello"),
                 MessageRow(EMPTY, 3 * i + 3, None, None, True, t + 30, "0123456789")]
    env.call(message_queries.insert_messages, env.services.db, rows, "export")
    bob = env.call(chats.chat_pace, ctx, EMPTY).set_index("")
    assert bob["median"].tolist() == [20.0, 1.0, 10.0] and bob["samples"].tolist() == [6, 6, 6]
    assert set(bob["learned from"]) == {"this chat"}
    alice = env.call(chats.chat_pace, ctx, ALICE)
    assert set(alice["learned from"]) == {"all chats"} and alice["median"].tolist() == [20.0, 1.0, 10.0]


def test_playground_candidates(env: PanelEnv, ctx: PanelContext) -> None:
    shown = env.call(playground.candidates, ctx, "them: hi\nme: yo\nthem: lunch?", "friend", " Ann ", 9).candidates
    assert shown == [f"candidate {i}\nre: lunch?" for i in range(1, playground.MAX_SHOWN_CANDIDATES + 1)]
    assert env.model.dialogues[-1].partner_name == "Ann" and env.model.dialogues[-1].relationship == "friend"
    with pytest.raises(InvalidDialogue, match="partner"):
        env.call(playground.candidates, ctx, "them: hi\nme: bye", "", "", 1)


def test_drafts_suggest_review_send_discard(env: PanelEnv, ctx: PanelContext) -> None:
    action = env.call(drafts.suggest, ctx, ALICE, " and bring wine ")
    assert action.text == "sure\nre: and bring wine" and "placed in the Telegram input box" in action.note
    assert action.view.pending["draft"].tolist() == [action.draft_id] and action.view.closed.empty
    assert action.view.pending["chat"].tolist() == ["Alice"]
    assert env.call(drafts.draft_text, ctx, action.draft_id) == action.text
    assert env.call(drafts.draft_text, ctx, None) == ""
    sent = env.call(drafts.send, ctx, action.draft_id, "yes!\n\nwhich wine?")
    assert sent.note == f"Draft #{action.draft_id} sent (edited)." and sent.draft_id is None and sent.text == ""
    assert env.telegram.sent == [(ALICE, ["yes!", "which wine?"])]
    assert "0 preference pairs" in action.view.learning
    assert "1 preference pair (1 edited before sending, 0 answered yourself instead)" in sent.view.learning
    assert sent.view.pending.empty and sent.view.closed["status"].tolist() == ["sent"]
    with pytest.raises(DraftClosed):
        env.call(drafts.send, ctx, action.draft_id, "again")
    second = env.call(drafts.suggest, ctx, ALICE, "")
    discarded = env.call(drafts.discard, ctx, second.draft_id)
    assert "discarded" in discarded.note
    assert env.call(reply_queries.get_draft, env.services.db, second.draft_id).status == "discarded"
    with pytest.raises(NothingChosen, match="draft"):
        env.call(drafts.send, ctx, "", "text")


def test_the_latest_run_shown_is_the_latest_with_a_report(env: PanelEnv, ctx: PanelContext) -> None:
    """A run the schedule skipped stores only why: the Training and Drafts tabs show the preference
    stage of the latest run that reported one."""
    from storage import training as training_queries
    from training.fitting.preference import PreferenceStageResult
    from training.runs.report import skip_note

    stage = PreferenceStageResult(True, "12 new pairs", 10, 2, 0.5, 1.0, 6, 41.7)
    db = env.services.db

    async def runs() -> None:
        ran = await training_queries.create_run(db, "api", "tiny", 0)
        await training_queries.update_run(db, ran.id, status="succeeded",
                                          report={"run_id": ran.id, "preference": stage.as_dict()})
        skipped = await training_queries.create_run(db, "schedule", "tiny", 0, status="skipped")
        await training_queries.update_run(db, skipped.id, status="skipped", error="no new turns",
                                          report=skip_note("no new turns"))

    env.call(runs)
    shown = env.call(training.learning_text, ctx)
    assert "Latest run — Preference stage: 10 pairs trained, 2 held out" in shown
    assert env.call(drafts.drafts_view, ctx).learning == shown


def test_training_tables_run_view_and_adapters(env: PanelEnv, ctx: PanelContext) -> None:
    tables = env.call(training.training_tables, ctx)
    run_id = tables.runs["run"].tolist()[0]
    assert tables.runs["status"].tolist() == ["succeeded"]
    assert sorted(tables.adapter_choices) == ["adapter-1", "adapter-2"]
    view = env.call(training.run_view, ctx, run_id)
    assert f"Run {run_id}" in view.summary and view.loss["loss"].tolist() == [3.2, 2.9, 2.5]
    assert view.perplexity["model"].tolist() == ["base", "new"] and len(view.outputs()) == 9
    # the seeded run predates the voice evaluation: no judge, no hits, the style distance of its style metrics
    assert view.hits.empty and view.voice["metric"].tolist() == ["style distance (new)"]
    assert tables.runs["processes"].tolist() == [""] and tables.trend["metric"].tolist() == ["style distance"]
    assert "**1 process**" in tables.setup and "0 preference pairs" in tables.setup and "not run" in tables.setup
    assert env.call(training.run_view, ctx, "").summary == "_Pick a run._"
    with pytest.raises(NothingChosen, match="adapter"):
        env.call(training.promote, ctx, "")
    assert env.call(training.promote, ctx, "adapter-1") == "Now serving `adapter-1`."
    served = env.call(training.training_tables, ctx).adapters
    assert served.loc[served["adapter"] == "adapter-1", "served"].tolist() == ["yes"]
    assert env.call(training.rollback, ctx) == "Now serving `the base model`."
    new_run = env.call(training.start_run, ctx, "")
    assert env.training.started == [("panel", None)] and training.training_running(ctx)
    assert env.call(training.training_tables, ctx).runs["run"].tolist()[0] == new_run


def test_activity_filters_by_decision(env: PanelEnv, ctx: PanelContext) -> None:
    everything = env.call(activity.activity, ctx, "all")
    assert everything["chat"].tolist() == ["Team chat", "Alice"]
    assert list(everything.columns) == activity.ACTIVITY_COLUMNS
    assert len(env.call(activity.activity, ctx, "skipped")) == 2
    assert env.call(activity.activity, ctx, "answered").empty
