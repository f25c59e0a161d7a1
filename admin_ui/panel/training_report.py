"""A training run's report as the Training tab shows it: loss curve, held-out perplexity, hits@1,
the voice metrics (blind judge, style distance, multi-message share) and style metrics as plot
frames, the figures across runs, the preference stage, the gate's verdict and side-by-side samples
as Markdown. Pure functions over the stored run and report (`training.runs.report.RunReport.to_json`'s
keys); every figure is optional, since older runs stored fewer. No Gradio."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from admin_ui.panel.common import format_time
from storage.training import TrainingRun
from training.data.preference_pairs import PreferencePairCounts


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _first(*values: Any) -> Any:
    """The first value that is not None (a figure stored at the top of `evaluation` or in `new`)."""
    return next((v for v in values if v is not None), None)


def _evaluation(report: dict[str, Any] | None) -> dict[str, Any]:
    if not report:
        return {}
    evaluation = report.get("evaluation")
    return evaluation if isinstance(evaluation, dict) else report


# The report's per-model keys as the panel names them: `promoted` is the adapter served when the run started.
MODELS = (("base", "base"), ("promoted", "served"), ("new", "new"))
VOICE_COLUMNS = ["metric", "value", "series"]
TREND_COLUMNS = ["run", "metric", "value"]


def per_model_frame(report: dict[str, Any] | None, key: str) -> pd.DataFrame:
    """`evaluation.<key>.{base,promoted,new}` (perplexity, hits_at_1) → rows base/served/new for a bar plot;
    a model without a figure (no served adapter, an older run) is left out."""
    values = _evaluation(report).get(key)
    if not isinstance(values, dict):
        values = {}
    rows = [{"model": label, key: v} for name, label in MODELS if (v := _number(values.get(name))) is not None]
    return pd.DataFrame(rows, columns=["model", key])


def perplexity_frame(report: dict[str, Any] | None) -> pd.DataFrame:
    """Held-out perplexity of the base model, the served adapter and the new one."""
    return per_model_frame(report, "perplexity")


def _style_value(style: Any, metric: str, series: str) -> float | None:
    values = style.get(metric) if isinstance(style, dict) else None
    return _number(values.get(series)) if isinstance(values, dict) else None


def voice_frame(report: dict[str, Any] | None) -> pd.DataFrame:
    """How much the generated replies sound like the owner: blind judge accuracy (0.5 = the judge
    cannot tell), style distance (0 = same style) for the new adapter and the served model, and the
    multi-message share of the new adapter's, the served model's and the owner's real replies.
    One bar per metric and series (Gradio stacks bars sharing an x value)."""
    evaluation = _evaluation(report)
    new = evaluation.get("new") if isinstance(evaluation.get("new"), dict) else {}
    served = evaluation.get("reference") if isinstance(evaluation.get("reference"), dict) else {}
    style = evaluation.get("style") or new.get("style")
    candidates = [
        ("blind judge", "new", _first(evaluation.get("blind_judge_accuracy"), new.get("blind_judge_accuracy"))),
        ("blind judge", "served", served.get("blind_judge_accuracy")),
        ("style distance", "new", _first(evaluation.get("style_distance"), new.get("style_distance"))),
        ("style distance", "served", served.get("style_distance")),
        ("multi-message", "new", _style_value(style, "multi_message_share", "generated")),
        ("multi-message", "served", _style_value(served.get("style"), "multi_message_share", "generated")),
        ("multi-message", "real", _style_value(style, "multi_message_share", "real")),
    ]
    rows = [{"metric": f"{metric} ({series})", "value": v, "series": series}
            for metric, series, raw in candidates if (v := _number(raw)) is not None]
    return pd.DataFrame(rows, columns=VOICE_COLUMNS)


def runs_trend_frame(runs: list[TrainingRun]) -> pd.DataFrame:
    """The new adapter's figures across runs (oldest first) for a line plot: blind judge accuracy,
    style distance, hits@1, multi-message share generated vs real. Runs without them are skipped."""
    rows = []
    for run in sorted(runs, key=lambda r: r.id):
        evaluation = _evaluation(run.report)
        hits = evaluation.get("hits_at_1") if isinstance(evaluation.get("hits_at_1"), dict) else {}
        style = evaluation.get("style")
        for metric, raw in (
            ("blind judge", evaluation.get("blind_judge_accuracy")),
            ("style distance", evaluation.get("style_distance")),
            ("hits@1", hits.get("new")),
            ("multi-message (new)", _style_value(style, "multi_message_share", "generated")),
            ("multi-message (real)", _style_value(style, "multi_message_share", "real")),
        ):
            if (v := _number(raw)) is not None:
                rows.append({"run": run.id, "metric": metric, "value": v})
    return pd.DataFrame(rows, columns=TREND_COLUMNS)


def _fraction(value: Any) -> str:
    v = _number(value)
    return "—" if v is None else f"{v:.0%}"


def preference_markdown(report: dict[str, Any] | None) -> str:
    """The run's preference stage (`report.preference`): pairs, held-out preference accuracy before →
    after, steps and time; "not run" (with the reason when known) otherwise."""
    stage = (report or {}).get("preference")
    if not isinstance(stage, dict):
        return "Preference stage: not run."
    if not stage.get("ran"):
        reason = stage.get("reason")
        return f"Preference stage: not run ({reason})." if reason else "Preference stage: not run."
    seconds = _number(stage.get("seconds"))
    return (f"Preference stage: {stage.get('pairs_train', 0)} pairs trained, {stage.get('pairs_heldout', 0)} held out"
            f" · held-out preference accuracy {_fraction(stage.get('accuracy_before'))} → "
            f"{_fraction(stage.get('accuracy_after'))} · {stage.get('steps', 0)} steps"
            + (f" · {seconds:.0f} s" if seconds is not None else "") + ".")


def learning_markdown(counts: PreferencePairCounts, last_report: dict[str, Any] | None) -> str:
    """What the twin learns from the owner's drafts: the preference pairs there are, and what the
    latest run's preference stage did with them."""
    pairs = f"{counts.total} preference pair{'' if counts.total == 1 else 's'}"
    return (f"**Learning from your drafts:** {pairs} ({counts.edited} edited before"
            f" sending, {counts.own_reply} answered yourself instead), {counts.unused} not yet trained on.  \n"
            f"Latest run — {preference_markdown(last_report)}")


def world_size(report: dict[str, Any] | None) -> int | None:
    """Processes the run trained with (`report.world_size`; None for runs that did not record it)."""
    value = (report or {}).get("world_size")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def style_frames(report: dict[str, Any] | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Style metrics, generated vs real: (shares 0..1, lengths) — separate because scales differ.
    One bar per metric and series (`emoji (gen)`, `emoji (real)`): Gradio stacks bars that
    share an x value, and side by side is what compares."""
    style = _evaluation(report).get("style") or {}
    shares, lengths = [], []
    for metric, values in style.items():
        if not isinstance(values, dict):
            continue
        for series in ("generated", "real"):
            v = _number(values.get(series))
            if v is None:
                continue
            label = metric.replace("_share", "").replace("_", " ")
            row = {"metric": f"{label} ({'gen' if series == 'generated' else 'real'})", "value": v, "series": series}
            (shares if metric.endswith("_share") else lengths).append(row)
    columns = ["metric", "value", "series"]
    return pd.DataFrame(shares, columns=columns), pd.DataFrame(lengths, columns=columns)


def loss_frame(loss_curve: list[list[float]]) -> pd.DataFrame:
    rows = [{"step": float(p[0]), "loss": float(p[1])} for p in loss_curve if len(p) >= 2 and _number(p[1]) is not None]
    return pd.DataFrame(rows, columns=["step", "loss"])


def run_summary(run: TrainingRun, tz: str = "UTC") -> str:
    """A run's status line and its promotion decision, as Markdown."""
    lines = [f"**Run {run.id}** · {run.status} · {run.progress:.0%} · preset `{run.preset}` · {run.trigger}"
             f" · started {format_time(run.started_at, tz)}"]
    if run.finished_at:
        lines[0] += f" · finished {format_time(run.finished_at, tz)}"
    processes = world_size(run.report)
    if processes is not None:
        lines[0] += f" · {processes} process{'es' if processes > 1 else ''}"
    if run.error:
        lines.append(f"Error: `{run.error}`")
    if run.adapter_id:
        lines.append(f"Adapter: `{run.adapter_id}`")
    promotion = (run.report or {}).get("promotion")
    if isinstance(promotion, dict):
        verdict = "promoted" if promotion.get("promote") else "kept, not promoted"
        lines.append(f"Gate: **{verdict}** — {promotion.get('reason', '')}")
    if run.report:
        lines.append(preference_markdown(run.report))
    return "\n\n".join(lines)


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", "<br>")


def _turn_text(turn: dict[str, Any]) -> str:
    """A sample's context turn: `messages` (the typed report) or `text` (older runs)."""
    messages = turn.get("messages")
    if isinstance(messages, list):
        return " / ".join(str(m) for m in messages)
    return str(turn.get("text", ""))


def samples_markdown(report: dict[str, Any] | None, limit: int = 5) -> str:
    """Side-by-side samples from the evaluation: context, real reply, generated reply."""
    samples = _evaluation(report).get("samples") or []
    if not samples:
        return "_No samples in this report._"
    blocks = []
    for sample in samples[:limit]:
        context = "<br>".join(f"*{t.get('role')}*: {_cell(_turn_text(t))}" for t in sample.get("context", []))
        real = "<br>".join(_cell(m) for m in sample.get("real") or [])
        generated = "<br>".join(_cell(m) for m in sample.get("generated") or [])
        blocks.append(f"| context | real | generated |\n|---|---|---|\n| {context} | {real} | {generated} |")
    return "\n\n".join(blocks)


def adapter_perplexity(metrics: dict[str, Any]) -> str:
    """An adapter's held-out perplexity for its table row (metrics store it plain or per model)."""
    raw = metrics.get("perplexity")
    value = raw.get("new") if isinstance(raw, dict) else raw
    return f"{value:.3f}" if _number(value) is not None else ""
