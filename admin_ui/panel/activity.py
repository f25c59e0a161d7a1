"""Activity tab: the reply log, newest first, filtered by decision."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from admin_ui.panel.common import PanelContext, chat_titles, format_time
from application import records

DECISIONS = ["all", "answered", "drafted", "skipped", "error"]
ACTIVITY_COLUMNS = ["when", "chat", "decision", "reason", "sent ids"]
SHOWN_ENTRIES = 500


async def activity(ctx: PanelContext, decision: str = "all") -> pd.DataFrame:
    entries = await records.decisions(ctx.services, limit=SHOWN_ENTRIES)
    titles = await chat_titles(ctx)
    rows = [
        [format_time(e.created_at, ctx.tz), titles.get(e.chat_id, e.chat_id), e.decision, e.reason,
         ", ".join(map(str, e.sent_message_ids))]
        for e in entries if decision in ("all", e.decision)
    ]
    return pd.DataFrame(rows, columns=ACTIVITY_COLUMNS)


@dataclass(frozen=True)
class ActivityTab:
    decision: Any
    table: Any


def build(ctx: PanelContext) -> ActivityTab:
    """The tab's components and events; call inside `gr.Blocks`."""
    import gradio as gr

    async def on_filter(decision: str) -> pd.DataFrame:
        return await activity(ctx, decision)

    with gr.Tab("Activity"):
        with gr.Row():
            decision = gr.Radio(DECISIONS, value="all", label="Decision")
            refresh_btn = gr.Button("Refresh", scale=0)
        table = gr.Dataframe(label="Reply log (newest first)", interactive=False, wrap=True)
        refresh_btn.click(on_filter, decision, table, api_name="reply_log")
        decision.change(on_filter, decision, table)
    return ActivityTab(decision, table)
