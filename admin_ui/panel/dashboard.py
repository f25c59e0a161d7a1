"""Dashboard tab: what is running (Telegram, model, adapter, training, schedule), the global
auto-reply switch, and getting history in (export upload, harvest) as background jobs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from admin_ui import ingest, overview
from admin_ui.jobs import Job
from admin_ui.panel.common import NothingChosen, PanelContext, format_time, owner_errors

JOB_COLUMNS = ["job", "kind", "status", "progress", "message", "error", "started"]


@dataclass(frozen=True)
class DashboardView:
    status: str
    """The summary table, Markdown."""
    autoreply_enabled: bool
    jobs: pd.DataFrame


def model_line(model: dict[str, Any]) -> str:
    """The model service's status, whichever backend reports it (local and openai name keys differently)."""
    base = model.get("base_model") or model.get("base") or "?"
    parts = [str(base), f"**{model.get('state', 'unknown')}**", str(model.get("backend") or ""),
             str(model.get("device") or "")]
    line = " · ".join(p for p in parts if p)
    latency = model.get("last_latency_s")
    if isinstance(latency, (int, float)):
        line += f" · last reply {latency:.1f} s"
    error = model.get("error") or model.get("last_error") or model.get("adapter_error")
    return f"{line} · error: `{error}`" if error else line


def status_markdown(snapshot: dict[str, Any]) -> str:
    """The dashboard summary from `overview.status_snapshot`."""
    counts, model, telegram = snapshot["counts"], snapshot["model"], snapshot["telegram"]
    training, scheduler = snapshot["training"], snapshot["scheduler"]
    adapter = snapshot.get("adapter") or "none (base model)"
    if telegram["connected"]:
        tg = "connected"
    else:
        tg = "configured, not connected" if telegram["configured"] else "offline (not configured)"
    last = training.get("last_run")
    if training["running"] and last:
        train_line = f"run {last['id']} running, {last['progress']:.0%}"
    elif last:
        train_line = f"last run {last['id']}: {last['status']}"
    else:
        train_line = "no runs yet"
    if not training["available"]:
        train_line += " (training is not available in this process)"
    if scheduler.get("enabled"):
        every = scheduler.get("cron") or f"every {scheduler.get('interval_hours')} h"
        sched = f"{every}, next check {scheduler.get('next_run') or 'pending'}"
    else:
        sched = "off"
    return "\n".join([
        "| | State |\n|---|---|",
        f"| **Auto-replies** | {'**on**' if snapshot['autoreply_enabled'] else '**off** (global stop)'} |",
        f"| **Telegram** | {tg} |",
        f"| **Model** | {model_line(model)} |",
        f"| **Adapter served** | {adapter} |",
        f"| **Training** | {train_line} |",
        f"| **Retrain schedule** | {sched} |",
        f"| **Chats** | {counts['chats']} ({counts['auto_chats']} auto, {counts['draft_chats']} draft) |",
        f"| **Messages** | {counts['messages']} ({counts['owner_messages']} yours) |",
        f"| **Pending drafts** | {counts['pending_drafts']} |",
    ])


def jobs_frame(ctx: PanelContext) -> pd.DataFrame:
    rows = [
        [j.id, j.kind, j.status, "" if j.progress is None else f"{j.progress:.0%}", j.message,
         j.error or "", format_time(j.started_at, ctx.tz)]
        for j in ctx.jobs.list()
    ]
    return pd.DataFrame(rows, columns=JOB_COLUMNS)


async def status_text(ctx: PanelContext) -> str:
    return status_markdown(await overview.status_snapshot(ctx.services))


async def dashboard_view(ctx: PanelContext) -> DashboardView:
    snapshot = await overview.status_snapshot(ctx.services)
    return DashboardView(status_markdown(snapshot), bool(snapshot["autoreply_enabled"]), jobs_frame(ctx))


async def set_autoreply(ctx: PanelContext, enabled: bool) -> str:
    """Flip the global switch; returns the refreshed summary."""
    await overview.set_autoreply(ctx.services, enabled)
    return await status_text(ctx)


async def import_export(ctx: PanelContext, path: str | None) -> Job:
    """A file Gradio received → a private copy → the import job."""
    if not path:
        raise NothingChosen("choose a Telegram export (result.json) first")
    saved = await ingest.save_local_file(ctx.services, Path(path))
    return ingest.start_import(ctx.services, ctx.jobs, saved)


async def harvest(ctx: PanelContext) -> Job:
    return ingest.start_harvest(ctx.services, ctx.jobs)


@dataclass(frozen=True)
class DashboardTab:
    status: Any
    autoreply: Any
    jobs: Any


def build(ctx: PanelContext) -> DashboardTab:
    """The tab's components and events; call inside `gr.Blocks`."""
    import gradio as gr

    @owner_errors
    async def on_toggle(enabled: bool) -> str:
        return await set_autoreply(ctx, enabled)

    @owner_errors
    async def on_import(path: str | None) -> pd.DataFrame:
        job = await import_export(ctx, path)
        gr.Info(f"import started (job {job.id})")
        return jobs_frame(ctx)

    @owner_errors
    async def on_harvest() -> pd.DataFrame:
        job = await harvest(ctx)
        gr.Info(f"harvest started (job {job.id})")
        return jobs_frame(ctx)

    with gr.Tab("Dashboard"):
        with gr.Row():
            with gr.Column(scale=3):
                status_md = gr.Markdown()
            with gr.Column(scale=2):
                autoreply = gr.Checkbox(label="Auto-replies enabled (global switch)",
                                        info="Off = nothing is sent in any chat.")
                export_file = gr.File(label="Telegram Desktop export (result.json)", file_types=[".json"],
                                      type="filepath")
                with gr.Row():
                    import_btn = gr.Button("Import export", variant="primary")
                    harvest_btn = gr.Button("Harvest from Telegram")
        jobs_df = gr.Dataframe(label="Background jobs", interactive=False)
        autoreply.input(on_toggle, autoreply, status_md, api_name="set_autoreply")
        import_btn.click(on_import, export_file, jobs_df, api_name="import_export")
        harvest_btn.click(on_harvest, None, jobs_df, api_name="harvest")
    return DashboardTab(status_md, autoreply, jobs_df)
