"""Pure helpers for the panel: turn snapshots, rows and reports into what Gradio components show,
and the playground's text into a dialogue. No Gradio, no I/O: unit-tested on plain data."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

OWNER_PREFIXES = ("me:", "я:", ">")
PARTNER_PREFIXES = ("them:", "они:", "<")


def parse_playground(text: str) -> list[tuple[str, str]]:
    """One message per line: `me: …` is the owner, `them: …` (or no prefix) the partner.
    A line without a prefix after an owner line stays the partner's, so plain text is a question."""
    messages: list[tuple[str, str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        lower = line.lower()
        speaker = "partner"
        for prefix in OWNER_PREFIXES:
            if lower.startswith(prefix):
                speaker, line = "owner", line[len(prefix):].strip()
                break
        else:
            for prefix in PARTNER_PREFIXES:
                if lower.startswith(prefix):
                    line = line[len(prefix):].strip()
                    break
        if line:
            messages.append((speaker, line))
    return messages


def format_time(ts: int | float | None, tz: str = "UTC") -> str:
    if not ts:
        return ""
    try:
        zone: Any = ZoneInfo(tz)
    except Exception:  # an unknown zone name falls back to UTC rather than breaking a table
        zone = UTC
    return datetime.fromtimestamp(ts, zone).strftime("%Y-%m-%d %H:%M")


def _model_line(model: dict[str, Any]) -> str:
    """The model service's status, whichever backend reports it (local and openai name keys differently)."""
    base = model.get("base_model") or model.get("base") or "?"
    parts = [str(base), f"**{model.get('state', 'unknown')}**", str(model.get("backend") or ""), str(model.get("device") or "")]
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
    tg = "connected" if telegram["connected"] else ("configured, not connected" if telegram["configured"] else "offline (not configured)")
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
        f"| **Model** | {_model_line(model)} |",
        f"| **Adapter served** | {adapter} |",
        f"| **Training** | {train_line} |",
        f"| **Retrain schedule** | {sched} |",
        f"| **Chats** | {counts['chats']} ({counts['auto_chats']} auto, {counts['draft_chats']} draft) |",
        f"| **Messages** | {counts['messages']} ({counts['owner_messages']} yours) |",
        f"| **Pending drafts** | {counts['pending_drafts']} |",
    ])


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


def run_summary(run: Any, tz: str = "UTC") -> str:
    """A run's status line and its promotion decision, as Markdown."""
    lines = [f"**Run {run.id}** · {run.status} · {run.progress:.0%} · preset `{run.preset}` · {run.trigger} · started {format_time(run.started_at, tz)}"]
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
