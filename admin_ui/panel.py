"""The Gradio panel: Dashboard, Chats, Playground, Drafts, Training, Activity.

Handlers call the same functions as the REST routes (admin_ui.overview, drafting, ingest,
training_actions) on the same `Services`, never HTTP to itself. Owner-facing errors (AdminError,
storage errors) become Gradio error toasts; anything else is a bug and surfaces as one too.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import gradio as gr
import pandas as pd

from admin_ui import drafting, ingest, overview, training_actions
from admin_ui.errors import AdminError
from admin_ui.jobs import JobRegistry
from admin_ui.panel_views import (
    format_time,
    loss_frame,
    parse_playground,
    perplexity_frame,
    run_summary,
    samples_markdown,
    status_markdown,
    style_frames,
)
from services import Services
from storage import StorageError
from storage import replies as reply_queries
from storage import training as training_queries

MAX_SHOWN_CANDIDATES = 4
REFRESH_SECONDS = 4.0
RELATIONSHIPS = ["friend", "family", "partner", "work", "acquaintance"]
PANEL_CSS = """
.candidate textarea { font-size: 1.05rem; }
#tgtwin-title { margin-bottom: 0; }
"""

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


def owner_errors(fn: F) -> F:
    """Show the owner why an action did not happen, as a toast, instead of a generic error."""

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return await fn(*args, **kwargs)
        except (AdminError, StorageError) as exc:
            raise gr.Error(str(exc)) from exc

    return wrapper  # type: ignore[return-value]


def _chat_choices(chats: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(f"{c['title'] or c['id']} · {c['mode']} · {c['id']}", c["id"]) for c in chats]


def row_id(frame: pd.DataFrame, evt: gr.SelectData) -> Any:
    """Clicking a table row picks the row's id (first column) in the matching dropdown."""
    row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
    value = frame.iloc[row, 0]
    return value.item() if hasattr(value, "item") else value


def _train_choice(train: bool | None) -> str:
    return "default" if train is None else ("yes" if train else "no")


def _as_id(value: Any, what: str) -> int:
    """Dropdown values come back as ints (or strings when typed in)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise gr.Error(f"choose a {what} first") from None


def build_panel(services: Services, jobs: JobRegistry) -> gr.Blocks:
    tz = services.settings.timezone

    # ---------------------------------------------------------------- dashboard
    async def dashboard() -> tuple[str, bool, pd.DataFrame]:
        snapshot = await overview.status_snapshot(services)
        return status_markdown(snapshot), snapshot["autoreply_enabled"], jobs_frame()

    def jobs_frame() -> pd.DataFrame:
        rows = [
            [j.id, j.kind, j.status, "" if j.progress is None else f"{j.progress:.0%}", j.message,
             j.error or "", format_time(j.started_at, tz)]
            for j in jobs.list()
        ]
        return pd.DataFrame(rows, columns=["job", "kind", "status", "progress", "message", "error", "started"])

    @owner_errors
    async def toggle_autoreply(enabled: bool) -> str:
        await overview.set_autoreply(services, enabled)
        return status_markdown(await overview.status_snapshot(services))

    @owner_errors
    async def import_file(path: str | None) -> pd.DataFrame:
        if not path:
            raise gr.Error("choose a Telegram export (result.json) first")
        saved = await ingest.save_local_file(services, Path(path))
        job = ingest.start_import(services, jobs, saved)
        gr.Info(f"import started (job {job.id})")
        return jobs_frame()

    @owner_errors
    async def harvest() -> pd.DataFrame:
        job = ingest.start_harvest(services, jobs)
        gr.Info(f"harvest started (job {job.id})")
        return jobs_frame()

    # ---------------------------------------------------------------- chats
    async def chats_table(search: str) -> tuple[pd.DataFrame, Any]:
        chats = await overview.chat_list(services, (search or "").strip())
        frame = pd.DataFrame(
            [[c["id"], c["title"], c["type"], c["mode"], c["relationship"] or "", c["messages"], c["owner_messages"]] for c in chats],
            columns=["id", "title", "type", "mode", "relationship", "messages", "yours"],
        )
        return frame, gr.update(choices=_chat_choices(chats))

    @owner_errors
    async def chat_selected(chat_id: Any) -> tuple[Any, str, str, str]:
        if chat_id in (None, ""):
            return gr.update(), "", "default", "_Pick a chat._"
        detail = await overview.chat_detail(services, _as_id(chat_id, "chat"))
        return detail["mode"], detail["relationship"] or "", _train_choice(detail["train"]), _chat_stats(detail)

    def _chat_stats(d: dict[str, Any]) -> str:
        decisions = ", ".join(f"{k} {v}" for k, v in sorted(d["decisions"].items())) or "none yet"
        return (
            f"**{d['title'] or d['id']}** ({d['type']}, id `{d['id']}`)  \n"
            f"Messages: {d['messages']} ({d['owner_messages']} yours) · last {format_time(d['last_message_at'], tz) or 'never'}  \n"
            f"Bot decisions: {decisions} · pending drafts: {d['pending_drafts']}"
        )

    @owner_errors
    async def save_chat(chat_id: Any, mode: str, relationship: str, train: str, search: str) -> tuple[str, pd.DataFrame, Any]:
        from storage import chats as chat_queries

        cid = _as_id(chat_id, "chat")
        await chat_queries.update_chat_settings(
            services.db, cid, reply_mode=mode, relationship=(relationship or "").strip() or None,
            train={"default": None, "yes": True, "no": False}[train],
        )
        gr.Info("saved")
        frame, choices = await chats_table(search)
        return _chat_stats(await overview.chat_detail(services, cid)), frame, choices

    # ---------------------------------------------------------------- playground
    @owner_errors
    async def playground(text: str, relationship: str, partner: str, n: float) -> list[Any]:
        dialogue = drafting.compose_dialogue(parse_playground(text or ""), relationship, (partner or "").strip() or None)
        count = max(1, min(MAX_SHOWN_CANDIDATES, int(n)))
        candidates = await drafting.generate_candidates(services, dialogue, count)
        shown = [drafting.editable_text(c) for c in candidates][:MAX_SHOWN_CANDIDATES]
        return [gr.update(value=shown[i] if i < len(shown) else "", visible=i < len(shown)) for i in range(MAX_SHOWN_CANDIDATES)]

    # ---------------------------------------------------------------- drafts
    async def drafts_view() -> tuple[pd.DataFrame, pd.DataFrame, list[tuple[str, int]], str]:
        drafts = await reply_queries.list_drafts(services.db, limit=300)
        titles = {c["id"]: c["title"] for c in await overview.chat_list(services, limit=5000)}
        pending = [d for d in drafts if d.status == "pending"]
        closed = [d for d in drafts if d.status != "pending"][:50]
        pending_frame = pd.DataFrame(
            [[d.id, titles.get(d.chat_id, d.chat_id), _inline(d.text), format_time(d.created_at, tz)] for d in pending],
            columns=["draft", "chat", "suggestion", "created"],
        )
        closed_frame = pd.DataFrame(
            [[d.id, titles.get(d.chat_id, d.chat_id), d.status, _inline(d.text), _inline(d.sent_text or ""),
              format_time(d.updated_at, tz)] for d in closed],
            columns=["draft", "chat", "status", "suggestion", "sent", "when"],
        )
        choices = [(f"#{d.id} · {titles.get(d.chat_id, d.chat_id)}", d.id) for d in pending]
        telegram = "Telegram connected: **Send** posts as you." if overview.telegram_connected(services) else (
            "Telegram is offline: drafts can be suggested and discarded; sending needs `python main.py run`."
        )
        return pending_frame, closed_frame, choices, telegram

    @owner_errors
    async def suggest(chat_id: Any, message: str) -> list[Any]:
        suggestion = await drafting.suggest_draft(services, _as_id(chat_id, "chat"), (message or "").strip() or None)
        draft = suggestion.draft
        note = f"Draft #{draft.id} stored" + (" and placed in the Telegram input box." if suggestion.telegram_draft_saved else ".")
        pending, closed, choices, telegram = await drafts_view()
        return [pending, closed, gr.update(choices=choices, value=draft.id), telegram, _lines(draft.text), note]

    @owner_errors
    async def draft_selected(draft_id: Any) -> str:
        if draft_id in (None, ""):
            return ""
        return _lines((await reply_queries.get_draft(services.db, _as_id(draft_id, "draft"))).text)

    @owner_errors
    async def send(draft_id: Any, text: str) -> list[Any]:
        draft = await drafting.send_draft(services, _as_id(draft_id, "draft"), drafting.edited_messages(text or ""))
        pending, closed, choices, telegram = await drafts_view()
        edited = " (edited)" if draft.sent_text != draft.text else ""
        return [pending, closed, gr.update(choices=choices, value=None), telegram, "", f"Draft #{draft.id} sent{edited}."]

    @owner_errors
    async def discard(draft_id: Any) -> list[Any]:
        draft = await drafting.discard_draft(services, _as_id(draft_id, "draft"))
        pending, closed, choices, telegram = await drafts_view()
        return [pending, closed, gr.update(choices=choices, value=None), telegram, "", f"Draft #{draft.id} discarded."]

    # ---------------------------------------------------------------- training
    async def training_tables() -> tuple[pd.DataFrame, list[tuple[str, int]], pd.DataFrame, list[str]]:
        runs = await training_queries.list_runs(services.db, 100)
        adapters = await training_queries.list_adapters(services.db)
        promoted = await training_queries.promoted_adapter(services.db)
        runs_frame = pd.DataFrame(
            [[r.id, r.status, f"{r.progress:.0%}", r.preset, r.trigger, r.adapter_id or "", format_time(r.started_at, tz)] for r in runs],
            columns=["run", "status", "progress", "preset", "trigger", "adapter", "started"],
        )
        adapters_frame = pd.DataFrame(
            [[a.id, "yes" if promoted and promoted.id == a.id else "", a.base_model, _ppl(a.metrics), format_time(a.created_at, tz)] for a in adapters],
            columns=["adapter", "served", "base model", "held-out ppl", "created"],
        )
        return runs_frame, [(f"run {r.id} · {r.status}", r.id) for r in runs], adapters_frame, [a.id for a in adapters]

    @owner_errors
    async def run_view(run_id: Any) -> tuple[str, pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, str, dict[str, Any]]:
        if run_id in (None, ""):
            return "_Pick a run._", loss_frame([]), perplexity_frame(None), *style_frames(None), "", {}
        run = await training_queries.get_run(services.db, _as_id(run_id, "run"))
        shares, lengths = style_frames(run.report)
        return (run_summary(run, tz), loss_frame(run.loss_curve), perplexity_frame(run.report), shares, lengths,
                samples_markdown(run.report), run.report or {})

    @owner_errors
    async def start_run(preset: str) -> tuple[Any, ...]:
        run_id = await training_actions.start_training(services, "panel", preset or None)
        gr.Info(f"training run {run_id} started")
        runs_frame, run_choices, adapters_frame, adapter_choices = await training_tables()
        return runs_frame, gr.update(choices=run_choices, value=run_id), adapters_frame, gr.update(choices=adapter_choices)

    @owner_errors
    async def promote(adapter_id: str) -> tuple[str, pd.DataFrame]:
        if not adapter_id:
            raise gr.Error("choose an adapter first")
        adapter = await training_actions.promote(services, adapter_id, "promoted from the panel")
        return f"Now serving `{adapter.id}`.", (await training_tables())[2]

    @owner_errors
    async def rollback() -> tuple[str, pd.DataFrame]:
        current = await training_actions.rollback(services)
        return f"Now serving `{current.id if current else 'the base model'}`.", (await training_tables())[2]

    # ---------------------------------------------------------------- activity
    async def activity(decision: str) -> pd.DataFrame:
        entries = await reply_queries.list_decisions(services.db, limit=500)
        titles = {c["id"]: c["title"] for c in await overview.chat_list(services, limit=5000)}
        rows = [
            [format_time(e.created_at, tz), titles.get(e.chat_id, e.chat_id), e.decision, e.reason, ", ".join(map(str, e.sent_message_ids))]
            for e in entries if decision in ("all", e.decision)
        ]
        return pd.DataFrame(rows, columns=["when", "chat", "decision", "reason", "sent ids"])

    # ================================================================ layout
    with gr.Blocks(title="tgtwin", analytics_enabled=False) as panel:
        with gr.Row():
            gr.Markdown("## tgtwin — your Telegram twin", elem_id="tgtwin-title")
            gr.Button("Log out", link="/logout", size="sm", scale=0, variant="secondary")
        timer = gr.Timer(REFRESH_SECONDS)

        with gr.Tab("Dashboard"):
            with gr.Row():
                with gr.Column(scale=3):
                    status_md = gr.Markdown()
                with gr.Column(scale=2):
                    autoreply = gr.Checkbox(label="Auto-replies enabled (global switch)", info="Off = nothing is sent in any chat.")
                    export_file = gr.File(label="Telegram Desktop export (result.json)", file_types=[".json"], type="filepath")
                    with gr.Row():
                        import_btn = gr.Button("Import export", variant="primary")
                        harvest_btn = gr.Button("Harvest from Telegram")
            jobs_df = gr.Dataframe(label="Background jobs", interactive=False)
            autoreply.input(toggle_autoreply, autoreply, status_md, api_name="set_autoreply")
            import_btn.click(import_file, export_file, jobs_df, api_name="import_export")
            harvest_btn.click(harvest, None, jobs_df, api_name="harvest")

        with gr.Tab("Chats"):
            with gr.Row():
                search = gr.Textbox(label="Search chats", placeholder="part of a name", scale=4)
                search_btn = gr.Button("Search", scale=1)
            chats_df = gr.Dataframe(label="Chats (click a row to edit)", interactive=False, max_height=360)
            with gr.Row():
                with gr.Column(scale=2):
                    chat_pick = gr.Dropdown(label="Chat", allow_custom_value=True)
                    mode = gr.Radio(["off", "draft", "auto"], label="Reply mode", value="off",
                                    info="off: never answered · draft: suggestions for you to send · auto: answered as you")
                    relationship = gr.Dropdown(RELATIONSHIPS, label="Relationship (goes into the prompt)", allow_custom_value=True)
                    train = gr.Radio(["default", "yes", "no"], label="Use for training", value="default",
                                     info="default: private chats yes, groups per settings")
                    save_btn = gr.Button("Save", variant="primary")
                with gr.Column(scale=3):
                    chat_stats = gr.Markdown("_Pick a chat._")
            search_btn.click(chats_table, search, [chats_df, chat_pick], api_name="list_chats")
            search.submit(chats_table, search, [chats_df, chat_pick])
            chats_df.select(row_id, chats_df, chat_pick)
            chat_pick.change(chat_selected, chat_pick, [mode, relationship, train, chat_stats])
            save_btn.click(save_chat, [chat_pick, mode, relationship, train, search], [chat_stats, chats_df, chat_pick], api_name="save_chat")

        with gr.Tab("Playground"):
            gr.Markdown("Compose a dialogue, one message per line: `them: …` for the partner, `me: …` for you. "
                        "The model answers the last partner messages, as it would in a chat.")
            with gr.Row():
                with gr.Column(scale=3):
                    dialogue_box = gr.Textbox(label="Dialogue", lines=8,
                                              value="them: hey! are you coming tonight?\nme: maybe, what's the plan\nthem: pizza at 8 at Marco's")
                with gr.Column(scale=1):
                    play_rel = gr.Dropdown(RELATIONSHIPS, label="Relationship", allow_custom_value=True)
                    play_partner = gr.Textbox(label="Partner name", placeholder="optional")
                    play_n = gr.Slider(1, MAX_SHOWN_CANDIDATES, value=3, step=1, label="Candidates")
                    play_btn = gr.Button("Generate", variant="primary")
            with gr.Row():
                candidates = [gr.Textbox(label=f"Candidate {i + 1}", lines=4, elem_classes="candidate", visible=i < 3)
                              for i in range(MAX_SHOWN_CANDIDATES)]
            play_btn.click(playground, [dialogue_box, play_rel, play_partner, play_n], candidates, api_name="playground")

        with gr.Tab("Drafts"):
            telegram_note = gr.Markdown()
            with gr.Row():
                with gr.Column(scale=2):
                    gr.Markdown("#### Suggest a reply")
                    draft_chat = gr.Dropdown(label="Chat", allow_custom_value=True)
                    incoming = gr.Textbox(label="New incoming message (optional)", lines=2)
                    suggest_btn = gr.Button("Suggest", variant="primary")
                with gr.Column(scale=3):
                    gr.Markdown("#### Review")
                    draft_pick = gr.Dropdown(label="Pending draft", allow_custom_value=True)
                    draft_text = gr.Textbox(label="Text to send (one message per line; edit freely)", lines=4)
                    with gr.Row():
                        send_btn = gr.Button("Send", variant="primary")
                        discard_btn = gr.Button("Discard", variant="stop")
                    draft_note = gr.Markdown()
            pending_df = gr.Dataframe(label="Pending drafts (click a row to review it)", interactive=False)
            closed_df = gr.Dataframe(label="Sent and discarded", interactive=False)
            drafts_outputs = [pending_df, closed_df, draft_pick, telegram_note]
            suggest_btn.click(suggest, [draft_chat, incoming], [*drafts_outputs, draft_text, draft_note], api_name="suggest_draft")
            draft_pick.change(draft_selected, draft_pick, draft_text)
            pending_df.select(row_id, pending_df, draft_pick)
            send_btn.click(send, [draft_pick, draft_text], [*drafts_outputs, draft_text, draft_note], api_name="send_draft")
            discard_btn.click(discard, draft_pick, [*drafts_outputs, draft_text, draft_note], api_name="discard_draft")

        with gr.Tab("Training"):
            with gr.Row():
                preset = gr.Dropdown(training_presets(), label="Preset", value=services.settings.training_preset,
                                     allow_custom_value=True, scale=2)
                start_btn = gr.Button("Start training run", variant="primary", scale=1)
            runs_df = gr.Dataframe(label="Runs (click a row for its curve and report)", interactive=False, max_height=240)
            run_pick = gr.Dropdown(label="Run", allow_custom_value=True)
            run_md = gr.Markdown("_Pick a run._")
            with gr.Row():
                loss_plot = gr.LinePlot(x="step", y="loss", title="Training loss", height=260)
                ppl_plot = gr.BarPlot(x="model", y="perplexity", title="Held-out perplexity (lower is better)", height=260,
                                      y_lim=[0, None])
            with gr.Row():
                share_plot = gr.BarPlot(x="metric", y="value", color="series", title="Style: shares of replies/messages",
                                        height=300, y_lim=[0, 1], sort=None, x_label_angle=-35)
                length_plot = gr.BarPlot(x="metric", y="value", color="series", title="Style: lengths", height=300,
                                         y_lim=[0, None], sort=None, x_label_angle=-35)
            samples_md = gr.Markdown()
            with gr.Accordion("Full evaluation report", open=False):
                report_json = gr.JSON()
            gr.Markdown("#### Adapters")
            adapters_df = gr.Dataframe(label="Adapters (click a row to pick it)", interactive=False, max_height=240)
            with gr.Row():
                adapter_pick = gr.Dropdown(label="Adapter", allow_custom_value=True, scale=2)
                promote_btn = gr.Button("Promote (serve it)", scale=1)
                rollback_btn = gr.Button("Roll back", variant="stop", scale=1)
            adapter_note = gr.Markdown()
            run_outputs = [run_md, loss_plot, ppl_plot, share_plot, length_plot, samples_md, report_json]
            start_btn.click(start_run, preset, [runs_df, run_pick, adapters_df, adapter_pick], api_name="start_training")
            run_pick.change(run_view, run_pick, run_outputs)
            runs_df.select(row_id, runs_df, run_pick)
            adapters_df.select(row_id, adapters_df, adapter_pick)
            promote_btn.click(promote, adapter_pick, [adapter_note, adapters_df], api_name="promote_adapter")
            rollback_btn.click(rollback, None, [adapter_note, adapters_df], api_name="rollback_adapter")

        with gr.Tab("Activity"):
            with gr.Row():
                decision = gr.Radio(["all", "answered", "drafted", "skipped", "error"], value="all", label="Decision")
                activity_btn = gr.Button("Refresh", scale=0)
            activity_df = gr.Dataframe(label="Reply log (newest first)", interactive=False, wrap=True)
            activity_btn.click(activity, decision, activity_df, api_name="reply_log")
            decision.change(activity, decision, activity_df)

        async def load_all(search_text: str, decision_value: str) -> list[Any]:
            status, enabled, jobs_table = await dashboard()
            chats_frame, chat_choices = await chats_table(search_text)
            pending, closed, draft_choices, telegram = await drafts_view()
            runs_frame, run_choices, adapters_frame, adapter_choices = await training_tables()
            return [status, enabled, jobs_table, chats_frame, chat_choices, chat_choices, pending, closed,
                    gr.update(choices=draft_choices), telegram, runs_frame, gr.update(choices=run_choices), adapters_frame,
                    gr.update(choices=adapter_choices), await activity(decision_value)]

        load_outputs = [status_md, autoreply, jobs_df, chats_df, chat_pick, draft_chat, pending_df, closed_df, draft_pick,
                        telegram_note, runs_df, run_pick, adapters_df, adapter_pick, activity_df]
        panel.load(load_all, [search, decision], load_outputs, api_visibility="private")

        async def tick(run_id: Any) -> list[Any]:
            """Progress without clicking: status, jobs, runs and the selected run while training."""
            status, _, jobs_table = await dashboard()
            runs_frame = (await training_tables())[0]
            if run_id in (None, "") or not (services.training and services.training.is_running()):
                return [status, jobs_table, runs_frame, *[gr.update() for _ in run_outputs]]
            return [status, jobs_table, runs_frame, *(await run_view(run_id))]

        timer.tick(tick, run_pick, [status_md, jobs_df, runs_df, *run_outputs], api_visibility="private", show_progress="hidden")
    return panel


def _lines(stored: str) -> str:
    """A stored draft → one message per line, as the owner edits it."""
    return drafting.editable_text(drafting.draft_messages(stored))


def _inline(stored: str) -> str:
    """A stored draft in a table cell: its messages separated by ` / `."""
    return " / ".join(drafting.draft_messages(stored))


def training_presets() -> list[str]:
    try:
        return training_actions.preset_names()
    except ImportError:  # training package absent: the field stays free text
        return []


def _ppl(metrics: dict[str, Any]) -> str:
    value = (metrics.get("perplexity") or {}).get("new") if isinstance(metrics.get("perplexity"), dict) else metrics.get("perplexity")
    return f"{value:.3f}" if isinstance(value, (int, float)) else ""
