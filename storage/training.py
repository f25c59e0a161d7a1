"""Training runs, adapters and the promotion history (what is served, and what to roll back to)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any, Literal

from storage.db import Database, now
from storage.errors import InvalidValue, NotFound

RunStatus = Literal["queued", "running", "succeeded", "failed", "skipped"]


@dataclass(slots=True)
class RunSummary:
    """A run as lists show it, without its loss curve and report. (The REST API answers with these
    dataclasses; `metadata={"description": ...}` is what its schema says about a field.)"""

    id: int
    status: RunStatus
    trigger: str
    preset: str
    adapter_id: str | None
    owner_messages: int | None
    started_at: int
    finished_at: int | None
    error: str | None
    progress: float


@dataclass(slots=True)
class TrainingRun(RunSummary):
    loss_curve: list[list[float]] = field(default_factory=list, metadata={"description": "[[step, loss], ...]"})
    report: dict[str, Any] | None = field(
        default=None, metadata={"description": "The evaluation report (perplexities, style metrics, samples)."})


@dataclass(slots=True)
class Adapter:
    id: str
    path: str
    run_id: int | None
    base_model: str
    metrics: dict[str, Any]
    created_at: int


def _run(r: sqlite3.Row) -> TrainingRun:
    return TrainingRun(
        r["id"], r["status"], r["trigger"], r["preset"], r["adapter_id"], r["owner_messages"],
        r["started_at"], r["finished_at"], r["error"], r["progress"], json.loads(r["loss_curve"]),
        json.loads(r["report"]) if r["report"] else None,
    )


async def create_run(db: Database, trigger: str, preset: str, owner_messages: int | None = None,
                     status: RunStatus = "running") -> TrainingRun:
    cur = await db.execute(
        "INSERT INTO training_runs (status, trigger, preset, owner_messages, started_at) VALUES (?, ?, ?, ?, ?)",
        (status, trigger, preset, owner_messages, now()),
    )
    return await get_run(db, int(cur.lastrowid or 0))


async def get_run(db: Database, run_id: int) -> TrainingRun:
    row = await db.fetchone("SELECT * FROM training_runs WHERE id = ?", (run_id,))
    if row is None:
        raise NotFound(f"training run {run_id} not found")
    return _run(row)


async def list_runs(db: Database, limit: int = 100) -> list[TrainingRun]:
    rows = await db.fetchall("SELECT * FROM training_runs ORDER BY id DESC LIMIT ?", (limit,))
    return [_run(r) for r in rows]


async def update_run(
    db: Database,
    run_id: int,
    *,
    status: RunStatus | None = None,
    progress: float | None = None,
    loss_curve: list[list[float]] | None = None,
    report: dict[str, Any] | None = None,
    adapter_id: str | None = None,
    error: str | None = None,
) -> None:
    sets, params = [], []
    for column, value in (("status", status), ("progress", progress), ("adapter_id", adapter_id), ("error", error)):
        if value is not None:
            sets.append(f"{column} = ?")
            params.append(value)
    if loss_curve is not None:
        sets.append("loss_curve = ?")
        params.append(json.dumps(loss_curve))
    if report is not None:
        sets.append("report = ?")
        params.append(json.dumps(report))
    if status in ("succeeded", "failed", "skipped"):
        sets.append("finished_at = ?")
        params.append(now())
    if not sets:
        return
    cur = await db.execute(f"UPDATE training_runs SET {', '.join(sets)} WHERE id = ?", (*params, run_id))
    if cur.rowcount == 0:
        raise NotFound(f"training run {run_id} not found")


async def fail_unfinished_runs(db: Database, reason: str = "interrupted") -> int:
    """At start-up: runs left `running` by a killed process are failed (they never changed serving)."""
    cur = await db.execute(
        "UPDATE training_runs SET status = 'failed', error = ?, finished_at = ? WHERE status IN ('running','queued')",
        (reason, now()),
    )
    return cur.rowcount


async def unfinished_runs(db: Database) -> list[TrainingRun]:
    """Runs recorded as `running` or `queued` (alive, or left behind by a killed process)."""
    rows = await db.fetchall("SELECT * FROM training_runs WHERE status IN ('running','queued') ORDER BY id")
    return [_run(r) for r in rows]


async def last_finished_run(db: Database) -> TrainingRun | None:
    row = await db.fetchone("SELECT * FROM training_runs WHERE status = 'succeeded' ORDER BY id DESC LIMIT 1")
    return None if row is None else _run(row)


def _adapter(r: sqlite3.Row) -> Adapter:
    return Adapter(r["id"], r["path"], r["run_id"], r["base_model"], json.loads(r["metrics"]), r["created_at"])


async def add_adapter(db: Database, adapter_id: str, path: str, base_model: str, run_id: int | None,
                      metrics: dict[str, Any] | None = None) -> Adapter:
    await db.execute(
        "INSERT INTO adapters (id, path, run_id, base_model, metrics, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (adapter_id, path, run_id, base_model, json.dumps(metrics or {}), now()),
    )
    return await get_adapter(db, adapter_id)


async def set_adapter_metrics(db: Database, adapter_id: str, metrics: dict[str, Any]) -> None:
    await db.execute("UPDATE adapters SET metrics = ? WHERE id = ?", (json.dumps(metrics), adapter_id))


async def get_adapter(db: Database, adapter_id: str) -> Adapter:
    row = await db.fetchone("SELECT * FROM adapters WHERE id = ?", (adapter_id,))
    if row is None:
        raise NotFound(f"adapter {adapter_id} not found")
    return _adapter(row)


async def list_adapters(db: Database) -> list[Adapter]:
    return [_adapter(r) for r in await db.fetchall("SELECT * FROM adapters ORDER BY created_at DESC, id DESC")]


async def promoted_adapter(db: Database) -> Adapter | None:
    """The adapter being served, or None for the bare base model."""
    row = await db.fetchone("SELECT adapter_id FROM promotions ORDER BY id DESC LIMIT 1")
    if row is None or row["adapter_id"] is None:
        return None
    return await get_adapter(db, row["adapter_id"])


async def promote(db: Database, adapter_id: str | None, reason: str) -> None:
    if adapter_id is not None:
        await get_adapter(db, adapter_id)
    await db.execute(
        "INSERT INTO promotions (adapter_id, reason, created_at) VALUES (?, ?, ?)", (adapter_id, reason, now())
    )


@dataclass(frozen=True, slots=True)
class RollbackTarget:
    current: str | None
    """The adapter promoted now (None = the base model)."""
    previous: Adapter | None
    """What a rollback serves: the last adapter promoted before `current` (None = the base model)."""


async def rollback_target(db: Database) -> RollbackTarget:
    """What a rollback would serve, changing nothing (the caller swaps the model first, then
    records it with `promote`). InvalidValue when nothing was ever promoted."""
    rows = await db.fetchall("SELECT id, adapter_id FROM promotions ORDER BY id DESC")
    if not rows:
        raise InvalidValue("nothing has been promoted; nothing to roll back")
    current = rows[0]["adapter_id"]
    previous = next((r["adapter_id"] for r in rows[1:] if r["adapter_id"] != current), None)
    return RollbackTarget(current, None if previous is None else await get_adapter(db, previous))
