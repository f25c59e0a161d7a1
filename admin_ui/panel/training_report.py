"""A training run's report as the Training tab shows it: loss curve, held-out perplexity and style
metrics as plot frames, the gate's verdict and side-by-side samples as Markdown. Pure functions over
the stored run and report; no Gradio."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from admin_ui.panel.common import format_time
from storage.training import TrainingRun


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _evaluation(report: dict[str, Any] | None) -> dict[str, Any]:
    if not report:
        return {}
    evaluation = report.get("evaluation")
    return evaluation if isinstance(evaluation, dict) else report


def perplexity_frame(report: dict[str, Any] | None) -> pd.DataFrame:
    """Held-out perplexity per model (new adapter, base, promoted) → rows for a bar plot."""
    values = _evaluation(report).get("perplexity") or {}
    rows = [{"model": name, "perplexity": v} for name, raw in values.items() if (v := _number(raw)) is not None]
    return pd.DataFrame(rows, columns=["model", "perplexity"])


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
    if run.error:
        lines.append(f"Error: `{run.error}`")
    if run.adapter_id:
        lines.append(f"Adapter: `{run.adapter_id}`")
    promotion = (run.report or {}).get("promotion")
    if isinstance(promotion, dict):
        verdict = "promoted" if promotion.get("promote") else "kept, not promoted"
        lines.append(f"Gate: **{verdict}** — {promotion.get('reason', '')}")
    return "\n\n".join(lines)


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", "<br>")


def samples_markdown(report: dict[str, Any] | None, limit: int = 5) -> str:
    """Side-by-side samples from the evaluation: context, real reply, generated reply."""
    samples = _evaluation(report).get("samples") or []
    if not samples:
        return "_No samples in this report._"
    blocks = []
    for sample in samples[:limit]:
        context = "<br>".join(f"*{t.get('role')}*: {_cell(t.get('text', ''))}" for t in sample.get("context", []))
        real = "<br>".join(_cell(m) for m in sample.get("real") or [])
        generated = "<br>".join(_cell(m) for m in sample.get("generated") or [])
        blocks.append(f"| context | real | generated |\n|---|---|---|\n| {context} | {real} | {generated} |")
    return "\n\n".join(blocks)


def adapter_perplexity(metrics: dict[str, Any]) -> str:
    """An adapter's held-out perplexity for its table row (metrics store it plain or per model)."""
    raw = metrics.get("perplexity")
    value = raw.get("new") if isinstance(raw, dict) else raw
    return f"{value:.3f}" if _number(value) is not None else ""
