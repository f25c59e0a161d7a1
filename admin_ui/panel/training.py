"""Training tab: start a run (with the configured number of processes), see how much of the history
is learned (coverage), watch a run's loss and evaluation — perplexity, hits@1, the voice metrics,
across runs too — and its preference stage, promote an adapter or roll back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from admin_ui.panel.common import (
    Choices,
    NothingChosen,
    PanelContext,
    as_id,
    format_time,
    is_empty,
    owner_errors,
    row_picker,
)
from admin_ui.panel.training_report import (
    adapter_perplexity,
    hits_frame,
    learning_markdown,
    loss_frame,
    perplexity_frame,
    run_summary,
    runs_trend_frame,
    samples_markdown,
    style_frames,
    voice_frame,
)
from application import overview, records, training_actions
from training.data.coverage import Coverage, cached_coverage
from training.runs.report import AdapterMetrics, stored_report

RUN_COLUMNS = ["run", "status", "progress", "preset", "trigger", "processes", "adapter", "started"]
ADAPTER_COLUMNS = ["adapter", "served", "base model", "held-out ppl", "created"]
SHOWN_RUNS = 100


@dataclass(frozen=True)
class TrainingTables:
    runs: pd.DataFrame
    run_choices: Choices
    adapters: pd.DataFrame
    adapter_choices: list[str]
    trend: pd.DataFrame
    """The new adapters' voice figures across the shown runs (`runs_trend_frame`)."""
    setup: str
    """Processes per run, the coverage and what the drafts teach, Markdown."""


@dataclass(frozen=True)
class RunView:
    """One run as the tab shows it; `empty()` before a run is picked."""

    summary: str
    loss: pd.DataFrame
    perplexity: pd.DataFrame
    hits: pd.DataFrame
    voice: pd.DataFrame
    style_shares: pd.DataFrame
    style_lengths: pd.DataFrame
    samples: str
    report: dict[str, Any]
    """The run's report as stored, for the JSON viewer."""

    @classmethod
    def empty(cls) -> RunView:
        shares, lengths = style_frames(None)
        return cls("_Pick a run._", loss_frame([]), perplexity_frame(None), hits_frame(None), voice_frame(None),
                   shares, lengths, "", {})

    def outputs(self) -> list[Any]:
        return [self.summary, self.loss, self.perplexity, self.hits, self.voice, self.style_shares,
                self.style_lengths, self.samples, self.report]


def preset_names() -> list[str]:
    try:
        return training_actions.preset_names()
    except ImportError:  # training package absent: the field stays free text
        return []


def processes_line(processes: int) -> str:
    if processes == 1:
        return "Training runs in **1 process** (`TGTWIN_TRAIN_PROCESSES`)."
    return f"Training runs in **{processes} processes** (torchrun; `TGTWIN_TRAIN_PROCESSES`)."


def coverage_line(coverage: Coverage) -> str:
    """The coverage as one Markdown line (`training.data.coverage.Coverage.summary`)."""
    return f"**Coverage:** {coverage.summary()}."


async def learning_text(ctx: PanelContext) -> str:
    """The preference pairs and the latest run's preference stage (the Drafts tab shows it too)."""
    return learning_markdown(await overview.preference_pair_counts(ctx.services),
                             await records.latest_report(ctx.services))


async def training_tables(ctx: PanelContext) -> TrainingTables:
    runs = await records.runs(ctx.services, SHOWN_RUNS)
    adapters = await records.adapters(ctx.services)
    promoted = await records.promoted_adapter(ctx.services)
    reports = {r.id: stored_report(r.report) for r in runs}

    def processes(run_id: int) -> int | str:
        report = reports[run_id]
        return (report.world_size or "") if report else ""

    runs_frame = pd.DataFrame(
        [[r.id, r.status, f"{r.progress:.0%}", r.preset, r.trigger, processes(r.id), r.adapter_id or "",
          format_time(r.started_at, ctx.tz)] for r in runs],
        columns=RUN_COLUMNS,
    )
    adapters_frame = pd.DataFrame(
        [[a.id, "yes" if promoted and promoted.id == a.id else "", a.base_model,
          adapter_perplexity(AdapterMetrics.from_json(a.metrics)), format_time(a.created_at, ctx.tz)]
         for a in adapters],
        columns=ADAPTER_COLUMNS,
    )
    coverage = await cached_coverage(ctx.services.db, ctx.services.settings)
    setup = (f"{processes_line(ctx.services.settings.train_processes)}  \n{coverage_line(coverage)}  \n"
             f"{await learning_text(ctx)}")
    return TrainingTables(runs_frame, [(f"run {r.id} · {r.status}", r.id) for r in runs], adapters_frame,
                          [a.id for a in adapters], runs_trend_frame(reports), setup)


async def run_view(ctx: PanelContext, run_id: Any) -> RunView:
    if is_empty(run_id):
        return RunView.empty()
    run = await records.run(ctx.services, as_id(run_id, "run"))
    report = stored_report(run.report)
    shares, lengths = style_frames(report)
    return RunView(run_summary(run, report, ctx.tz), loss_frame(run.loss_curve), perplexity_frame(report),
                   hits_frame(report), voice_frame(report), shares, lengths, samples_markdown(report),
                   run.report or {})


async def start_run(ctx: PanelContext, preset: str) -> int:
    return await training_actions.start_training(ctx.services, "panel", preset or None)


async def promote(ctx: PanelContext, adapter_id: str) -> str:
    if not adapter_id:
        raise NothingChosen("choose an adapter first")
    adapter = await training_actions.promote(ctx.services.db, ctx.services.model, adapter_id, "promoted from the panel")
    return f"Now serving `{adapter.id}`."


async def rollback(ctx: PanelContext) -> str:
    current = await training_actions.rollback(ctx.services.db, ctx.services.model)
    return f"Now serving `{current.id if current else 'the base model'}`."


def training_running(ctx: PanelContext) -> bool:
    return bool(ctx.services.training and ctx.services.training.is_running())


@dataclass(frozen=True)
class TrainingTab:
    runs: Any
    run_pick: Any
    adapters: Any
    adapter_pick: Any
    trend: Any
    setup: Any
    run_outputs: list[Any]


def build(ctx: PanelContext) -> TrainingTab:
    """The tab's components and events; call inside `gr.Blocks`."""
    import gradio as gr

    @owner_errors
    async def on_pick(run_id: Any) -> list[Any]:
        return (await run_view(ctx, run_id)).outputs()

    @owner_errors
    async def on_start(preset: str) -> tuple[Any, ...]:
        run_id = await start_run(ctx, preset)
        gr.Info(f"training run {run_id} started")
        tables = await training_tables(ctx)
        return (tables.runs, gr.update(choices=tables.run_choices, value=run_id), tables.adapters,
                gr.update(choices=tables.adapter_choices), tables.trend, tables.setup)

    @owner_errors
    async def on_promote(adapter_id: str) -> tuple[str, pd.DataFrame]:
        note = await promote(ctx, adapter_id)
        return note, (await training_tables(ctx)).adapters

    @owner_errors
    async def on_rollback() -> tuple[str, pd.DataFrame]:
        note = await rollback(ctx)
        return note, (await training_tables(ctx)).adapters

    with gr.Tab("Training"):
        setup_md = gr.Markdown()
        with gr.Row():
            preset = gr.Dropdown(preset_names(), label="Preset", value=ctx.services.settings.training_preset,
                                 allow_custom_value=True, scale=2)
            start_btn = gr.Button("Start training run", variant="primary", scale=1)
        runs_df = gr.Dataframe(label="Runs (click a row for its curve and report)", interactive=False, max_height=240)
        trend_plot = gr.LinePlot(x="run", y="value", color="metric", title="New adapter per run: voice and hits@1",
                                 height=260, y_lim=[0, None])
        run_pick = gr.Dropdown(label="Run", allow_custom_value=True)
        run_md = gr.Markdown("_Pick a run._")
        with gr.Row():
            loss_plot = gr.LinePlot(x="step", y="loss", title="Training loss", height=260)
            ppl_plot = gr.BarPlot(x="model", y="perplexity", title="Held-out perplexity (lower is better)", height=260,
                                  y_lim=[0, None], sort=None)
        with gr.Row():
            hits_plot = gr.BarPlot(x="model", y="hits_at_1", title="hits@1: the real reply ranked first of 10",
                                   height=260, y_lim=[0, 1], sort=None)
            voice_plot = gr.BarPlot(x="metric", y="value", color="series", height=260, y_lim=[0, None], sort=None,
                                    title="Voice: blind judge (0.5 = indistinguishable), style distance, "
                                          "multi-message share", x_label_angle=-35)
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
        run_outputs = [run_md, loss_plot, ppl_plot, hits_plot, voice_plot, share_plot, length_plot, samples_md,
                       report_json]
        start_btn.click(on_start, preset, [runs_df, run_pick, adapters_df, adapter_pick, trend_plot, setup_md],
                        api_name="start_training")
        run_pick.change(on_pick, run_pick, run_outputs)
        runs_df.select(row_picker(), runs_df, run_pick)
        adapters_df.select(row_picker(), adapters_df, adapter_pick)
        promote_btn.click(on_promote, adapter_pick, [adapter_note, adapters_df], api_name="promote_adapter")
        rollback_btn.click(on_rollback, None, [adapter_note, adapters_df], api_name="rollback_adapter")
    return TrainingTab(runs_df, run_pick, adapters_df, adapter_pick, trend_plot, setup_md, run_outputs)
