"""Dashboard tab: what is running (Telegram, model, adapter, training, schedule), the global
auto-reply switch, and getting history in (export upload, harvest) as background jobs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from admin_ui.panel.common import NothingChosen, PanelContext, format_time, owner_errors
from application import ingest, overview
from application.jobs import Job
from application.status import StatusSnapshot, TrainingState
from model.status import ModelStatus

JOB_COLUMNS = ["job", "kind", "status", "progress", "message", "error", "started"]


@dataclass(frozen=True)
class DashboardView:
    status: str
    """The summary table, Markdown."""
    autoreply_enabled: bool
    jobs: pd.DataFrame


def model_line(model: ModelStatus | None) -> str:
    """The model service's status line (every backend reports the same `ModelStatus`)."""
    if model is None:
        return "not running in this process"
    engine = f"{model.engine} {model.dtype}" if model.engine and model.dtype else model.engine
    parts = [model.base_model or "?", f"**{model.state}**", model.backend, engine, model.device]
    line = " · ".join(p for p in parts if p)
    if model.last_latency_s is not None:
        line += f" · last reply {model.last_latency_s:.1f} s"
    error = model.error or model.adapter_error
    return f"{line} · error: `{error}`" if error else line


def _training_line(training: TrainingState) -> str:
    last = training.last_run
    if training.running and last:
        line = f"run {last.id} running, {last.progress:.0%}"
    elif last:
        line = f"last run {last.id}: {last.status}"
    else:
        line = "no runs yet"
    if training.processes > 1:
        line += f" · {training.processes} processes per run"
    if not training.available:
        line += " (training is not available in this process)"
    return line


def status_markdown(snapshot: StatusSnapshot) -> str:
    """The dashboard summary (`application.status.StatusSnapshot`, the one `status --json` prints)."""
    counts, telegram, scheduler = snapshot.counts, snapshot.telegram, snapshot.scheduler
    adapter = snapshot.adapter or "none (base model)"
    if telegram.connected:
        tg = "connected"
    else:
        tg = "configured, not connected" if telegram.configured else "offline (not configured)"
    if scheduler.enabled:
        every = scheduler.cron or f"every {scheduler.interval_hours} h"
        sched = f"{every}, next check {scheduler.next_run or 'pending'}"
    else:
        sched = "off"
    pairs = snapshot.preference_pairs
    return "\n".join([
        "| | State |\n|---|---|",
        f"| **Auto-replies** | {'**on**' if snapshot.autoreply_enabled else '**off** (global stop)'} |",
        f"| **Telegram** | {tg} |",
        f"| **Model** | {model_line(snapshot.model)} |",
        f"| **Adapter served** | {adapter} |",
        f"| **Training** | {_training_line(snapshot.training)} |",
        f"| **Retrain schedule** | {sched} |",
        f"| **Chats** | {counts.chats} ({counts.auto_chats} auto, {counts.draft_chats} draft) |",
        f"| **Messages** | {counts.messages} ({counts.owner_messages} yours) |",
        f"| **Pending drafts** | {counts.pending_drafts} |",
        f"| **Preference pairs** | {pairs.total} ({pairs.unused} not yet trained on) |",
    ])


def jobs_frame(ctx: PanelContext) -> pd.DataFrame:
    rows = [
        [j.id, j.kind, j.status, "" if j.progress is None else f"{j.progress:.0%}", j.message,
         j.error or "", format_time(j.started_at, ctx.tz)]
        for j in ctx.jobs.list()
    ]
    return pd.DataFrame(rows, columns=JOB_COLUMNS)


async def status_text(ctx: PanelContext) -> str:
    return status_markdown(await overview.snapshot(ctx.services))


async def dashboard_view(ctx: PanelContext) -> DashboardView:
    snapshot = await overview.snapshot(ctx.services)
    return DashboardView(status_markdown(snapshot), snapshot.autoreply_enabled, jobs_frame(ctx))


async def set_autoreply(ctx: PanelContext, enabled: bool) -> str:
    """Flip the global switch; returns the refreshed summary."""
    await overview.set_autoreply(ctx.services, enabled)
    return await status_text(ctx)


async def import_export(ctx: PanelContext, path: str | None) -> Job:
    """The file the panel's upload route received → the import job (which deletes it when done)."""
    if not path:
        raise NothingChosen("choose a Telegram export (result.json) first")
    return ingest.import_panel_upload(ctx.services, ctx.jobs, path)


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
    async def on_import(upload: dict[str, Any] | None) -> pd.DataFrame:
        job = await import_export(ctx, upload["path"] if upload else None)
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
                # No `file_types`: Gradio would refuse another type before `on_import` runs and keep
                # the upload; ingest refuses it instead and deletes it.
                export_file = gr.File(label="Telegram Desktop export (result.json)")
                with gr.Row():
                    import_btn = gr.Button("Import export", variant="primary")
                    harvest_btn = gr.Button("Harvest from Telegram")
        jobs_df = gr.Dataframe(label="Background jobs", interactive=False)
        autoreply.input(on_toggle, autoreply, status_md, api_name="set_autoreply")
        # preprocess=False: `on_import` gets Gradio's file record (after Gradio's own upload-dir check)
        # instead of File.preprocess's path, which in Gradio 6.31 also leaves an empty temp file in the
        # upload dir on every call.
        import_btn.click(on_import, export_file, jobs_df, api_name="import_export", preprocess=False)
        harvest_btn.click(on_harvest, None, jobs_df, api_name="harvest")
    return DashboardTab(status_md, autoreply, jobs_df)
