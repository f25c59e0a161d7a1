"""Assembles the panel from its tabs, and keeps them fresh: everything loads on page open, and a
timer refreshes status, jobs and runs (and the picked run while one trains).

Handlers call the same functions as the REST routes and the CLI (`application`: overview, chats,
records, drafting, ingest, training_actions) on the same `Services`, never HTTP to itself.
Owner-facing errors (`application.errors.ActionError`, storage errors) become Gradio error toasts;
anything else is a bug and surfaces as one too.
To add a tab: a module with handlers and a `build(ctx)`, called below in the order it should appear.
"""

from __future__ import annotations

from typing import Any

from admin_ui.panel import activity, chats, dashboard, drafts, playground, training
from admin_ui.panel.common import PanelContext, is_empty
from application.jobs import JobRegistry
from services import Services

REFRESH_SECONDS = 4.0
# Logging out is a POST (admin_ui.login), so the button submits a form instead of following a link.
LOGOUT_JS = """() => {
  const form = document.createElement("form");
  form.method = "post";
  form.action = "/logout";
  document.body.appendChild(form);
  form.submit();
}"""
PANEL_CSS = """
.candidate textarea { font-size: 1.05rem; }
#tgtwin-title { margin-bottom: 0; }
"""


def build_panel(services: Services, jobs: JobRegistry) -> Any:
    """The `gr.Blocks` app that `admin_ui.app` mounts at `/ui`."""
    import gradio as gr

    ctx = PanelContext(services, jobs)
    with gr.Blocks(title="tgtwin", analytics_enabled=False) as panel:
        with gr.Row():
            gr.Markdown("## tgtwin — your Telegram twin", elem_id="tgtwin-title")
            logout = gr.Button("Log out", size="sm", scale=0, variant="secondary")
            logout.click(None, js=LOGOUT_JS)
        timer = gr.Timer(REFRESH_SECONDS)
        dash = dashboard.build(ctx)
        chat_tab = chats.build(ctx)
        playground_tab = playground.build(ctx)
        draft_tab = drafts.build(ctx)
        train_tab = training.build(ctx)
        activity_tab = activity.build(ctx)

        async def load_all(search: str, decision: str) -> list[Any]:
            view = await dashboard.dashboard_view(ctx)
            chat_view = await chats.chats_table(ctx, search)
            draft_view = await drafts.drafts_view(ctx)
            tables = await training.training_tables(ctx)
            chat_choices = gr.update(choices=chat_view.choices)
            return [view.status, view.autoreply_enabled, view.jobs, chat_view.table, chat_choices, chat_choices,
                    chat_choices,
                    draft_view.pending, draft_view.closed, gr.update(choices=draft_view.choices),
                    draft_view.telegram_note, draft_view.learning,
                    tables.runs, gr.update(choices=tables.run_choices), tables.adapters,
                    gr.update(choices=tables.adapter_choices), tables.trend, tables.setup,
                    await activity.activity(ctx, decision)]

        load_outputs = [dash.status, dash.autoreply, dash.jobs, chat_tab.table, chat_tab.pick, draft_tab.chat,
                        playground_tab.memory_chat,
                        draft_tab.pending, draft_tab.closed, draft_tab.pick, draft_tab.telegram_note,
                        draft_tab.learning,
                        train_tab.runs, train_tab.run_pick, train_tab.adapters, train_tab.adapter_pick, train_tab.trend,
                        train_tab.setup, activity_tab.table]
        panel.load(load_all, [chat_tab.search, activity_tab.decision], load_outputs, api_visibility="private")

        async def tick(run_id: Any) -> list[Any]:
            """Progress without clicking: status, jobs, runs and the selected run while training."""
            status = await dashboard.status_text(ctx)
            runs = (await training.training_tables(ctx)).runs
            if is_empty(run_id) or not training.training_running(ctx):
                return [status, dashboard.jobs_frame(ctx), runs, *[gr.update() for _ in train_tab.run_outputs]]
            return [status, dashboard.jobs_frame(ctx), runs, *(await training.run_view(ctx, run_id)).outputs()]

        timer.tick(tick, train_tab.run_pick, [dash.status, dash.jobs, train_tab.runs, *train_tab.run_outputs],
                   api_visibility="private", show_progress="hidden")
    return panel
