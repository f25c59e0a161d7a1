"""A training run's report as the Training tab shows it: loss curve, held-out perplexity, hits@1,
the voice metrics (blind judge, style distance, multi-message share) and style metrics as plot
frames, the figures across runs, the preference stage, the gate's verdict and side-by-side samples
as Markdown. Pure functions over the typed report (`training.runs.report.RunReport`, read from the run
row by `stored_report`); every figure is optional, since older runs stored fewer. No Gradio."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal

import pandas as pd

from admin_ui.panel.common import format_time
from storage.training import TrainingRun
from training.data.preference_pairs import PreferencePairCounts
from training.evaluation.report import PerModel
from training.evaluation.style import StyleReport
from training.fitting.preference import PreferenceStageResult
from training.runs.report import AdapterMetrics, RunReport

Series = Literal["generated", "real"]
MULTI_MESSAGE = "multi_message_share"
VOICE_COLUMNS = ["metric", "value", "series"]
TREND_COLUMNS = ["run", "metric", "value"]


def _number(value: float | None) -> float | None:
    """A figure worth plotting: None for a missing or non-finite one (a NaN is not a 0)."""
    return value if value is not None and math.isfinite(value) else None


def per_model_frame(figures: PerModel | None, column: str) -> pd.DataFrame:
    """One figure (perplexity, hits@1) of the base model, the adapter served when the run started and
    the new one → rows base/served/new for a bar plot; a model without a figure (no served adapter,
    an older run) is left out."""
    values = (("base", figures.base), ("served", figures.promoted), ("new", figures.new)) if figures else ()
    rows = [{"model": label, column: v} for label, raw in values if (v := _number(raw)) is not None]
    return pd.DataFrame(rows, columns=["model", column])


def perplexity_frame(report: RunReport | None) -> pd.DataFrame:
    """Held-out perplexity of the base model, the served adapter and the new one."""
    return per_model_frame(report.evaluation.perplexity if report else None, "perplexity")


def hits_frame(report: RunReport | None) -> pd.DataFrame:
    """Held-out hits@1 (the owner's real reply ranked first) of the base model, the served adapter and the new one."""
    return per_model_frame(report.evaluation.hits_at_1 if report else None, "hits_at_1")


def _style_value(style: StyleReport | None, metric: str, series: Series) -> float | None:
    if style is None:
        return None
    return _number((style.generated if series == "generated" else style.real).get(metric))


def voice_frame(report: RunReport | None) -> pd.DataFrame:
    """How much the generated replies sound like the owner: blind judge accuracy (0.5 = the judge
    cannot tell), style distance (0 = same style) for the new adapter and the served model, and the
    multi-message share of the new adapter's, the served model's and the owner's real replies.
    One bar per metric and series (Gradio stacks bars sharing an x value)."""
    if report is None:
        return pd.DataFrame(columns=VOICE_COLUMNS)
    evaluation = report.evaluation
    served, style = evaluation.reference, evaluation.style
    served_style = served.style if served else None
    candidates = [
        ("blind judge", "new", evaluation.blind_judge_accuracy),
        ("blind judge", "served", served.blind_judge_accuracy if served else None),
        ("style distance", "new", evaluation.style_distance),
        ("style distance", "served", served.style_distance if served else None),
        ("multi-message", "new", _style_value(style, MULTI_MESSAGE, "generated")),
        ("multi-message", "served", _style_value(served_style, MULTI_MESSAGE, "generated")),
        ("multi-message", "real", _style_value(style, MULTI_MESSAGE, "real")),
    ]
    rows = [{"metric": f"{metric} ({series})", "value": v, "series": series}
            for metric, series, raw in candidates if (v := _number(raw)) is not None]
    return pd.DataFrame(rows, columns=VOICE_COLUMNS)


def runs_trend_frame(reports: Mapping[int, RunReport | None]) -> pd.DataFrame:
    """The new adapter's figures across runs (run id → its report; oldest first) for a line plot:
    blind judge accuracy, style distance, hits@1, multi-message share generated vs real. Runs
    without them are skipped."""
    rows = []
    for run_id, report in sorted(reports.items()):
        if report is None:
            continue
        evaluation = report.evaluation
        for metric, raw in (
            ("blind judge", evaluation.blind_judge_accuracy),
            ("style distance", evaluation.style_distance),
            ("hits@1", evaluation.hits_at_1.new),
            ("multi-message (new)", _style_value(evaluation.style, MULTI_MESSAGE, "generated")),
            ("multi-message (real)", _style_value(evaluation.style, MULTI_MESSAGE, "real")),
        ):
            if (v := _number(raw)) is not None:
                rows.append({"run": run_id, "metric": metric, "value": v})
    return pd.DataFrame(rows, columns=TREND_COLUMNS)


def _fraction(value: float | None) -> str:
    v = _number(value)
    return "—" if v is None else f"{v:.0%}"


def preference_markdown(stage: PreferenceStageResult | None) -> str:
    """A run's preference stage: pairs, held-out preference accuracy before → after, steps and time;
    "not run" (with the reason when known) otherwise."""
    if stage is None:
        return "Preference stage: not run."
    if not stage.ran:
        return f"Preference stage: not run ({stage.reason})." if stage.reason else "Preference stage: not run."
    seconds = _number(stage.seconds)
    return (f"Preference stage: {stage.pairs_train} pairs trained, {stage.pairs_heldout} held out"
            f" · held-out preference accuracy {_fraction(stage.accuracy_before)} → "
            f"{_fraction(stage.accuracy_after)} · {stage.steps} steps"
            + (f" · {seconds:.0f} s" if seconds is not None else "") + ".")


def learning_markdown(counts: PreferencePairCounts, last_report: RunReport | None) -> str:
    """What the twin learns from the owner's drafts: the preference pairs there are, and what the
    latest run's preference stage did with them."""
    pairs = f"{counts.total} preference pair{'' if counts.total == 1 else 's'}"
    return (f"**Learning from your drafts:** {pairs} ({counts.edited} edited before"
            f" sending, {counts.own_reply} answered yourself instead), {counts.unused} not yet trained on.  \n"
            f"Latest run — {preference_markdown(last_report.preference if last_report else None)}")


def style_frames(report: RunReport | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Style metrics, generated vs real: (shares 0..1, lengths) — separate because scales differ.
    One bar per metric and series (`emoji (gen)`, `emoji (real)`): Gradio stacks bars that
    share an x value, and side by side is what compares."""
    style = report.evaluation.style if report else None
    shares, lengths = [], []
    for metric in style.generated if style else ():
        for series, short in (("generated", "gen"), ("real", "real")):
            v = _style_value(style, metric, series)
            if v is None:
                continue
            label = metric.replace("_share", "").replace("_", " ")
            row = {"metric": f"{label} ({short})", "value": v, "series": series}
            (shares if metric.endswith("_share") else lengths).append(row)
    return pd.DataFrame(shares, columns=VOICE_COLUMNS), pd.DataFrame(lengths, columns=VOICE_COLUMNS)


def loss_frame(loss_curve: list[list[float]]) -> pd.DataFrame:
    rows = [{"step": float(p[0]), "loss": float(p[1])} for p in loss_curve if len(p) >= 2 and _number(p[1]) is not None]
    return pd.DataFrame(rows, columns=["step", "loss"])


def run_summary(run: TrainingRun, report: RunReport | None, tz: str = "UTC") -> str:
    """A run's status line, its processes, its promotion decision and preference stage, as Markdown."""
    lines = [f"**Run {run.id}** · {run.status} · {run.progress:.0%} · preset `{run.preset}` · {run.trigger}"
             f" · started {format_time(run.started_at, tz)}"]
    if run.finished_at:
        lines[0] += f" · finished {format_time(run.finished_at, tz)}"
    processes = report.world_size if report else None
    if processes is not None:
        lines[0] += f" · {processes} process{'es' if processes > 1 else ''}"
    if run.error:
        lines.append(f"Error: `{run.error}`")
    if run.adapter_id:
        lines.append(f"Adapter: `{run.adapter_id}`")
    if report is not None and report.promotion is not None:
        verdict = "promoted" if report.promotion.promote else "kept, not promoted"
        lines.append(f"Gate: **{verdict}** — {report.promotion.reason}")
    if report is not None:
        lines.append(preference_markdown(report.preference))
    return "\n\n".join(lines)


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", "<br>")


def samples_markdown(report: RunReport | None, limit: int = 5) -> str:
    """Side-by-side samples from the evaluation: context, real reply, generated reply."""
    samples = report.evaluation.samples if report else ()
    if not samples:
        return "_No samples in this report._"
    blocks = []
    for sample in samples[:limit]:
        context = "<br>".join(f"*{t.role}*: {_cell(' / '.join(t.messages))}" for t in sample.context)
        real = "<br>".join(_cell(m) for m in sample.real)
        generated = "<br>".join(_cell(m) for m in sample.generated)
        blocks.append(f"| context | real | generated |\n|---|---|---|\n| {context} | {real} | {generated} |")
    return "\n\n".join(blocks)


def adapter_perplexity(metrics: AdapterMetrics) -> str:
    """An adapter's held-out perplexity for its table row."""
    value = _number(metrics.perplexity.new)
    return f"{value:.3f}" if value is not None else ""
