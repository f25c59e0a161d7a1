"""Runs left behind by a killed process: find them, mark them failed, clean their staging dirs.

A run is alive while the process training it is. That process records its pid in
`<data>/runs/run-<id>.pid` as soon as the run has an id (`record_run_process`, called by
`training.run.run_training`, which the CLI's `train` and the panel's worker both go through).
Every entry point that starts or lists runs calls `reconcile_runs` first: `run`/`serve` at
start-up, the CLI's `train`, `eval` and `status`.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from settings import Settings
from storage import Database
from storage import training as training_queries

log = logging.getLogger(__name__)

STARTING_GRACE_S = 120
"""A run row is written a moment before its process records its pid (the controller spawns the
worker after creating the row); younger runs without a pid file are left alone."""


@dataclass(frozen=True, slots=True)
class Reconciled:
    failed_runs: tuple[int, ...]
    removed_staging: tuple[str, ...]


def _pid_file(settings: Settings, run_id: int) -> Path:
    return Path(settings.data_dir) / "runs" / f"run-{run_id}.pid"


def record_run_process(settings: Settings, run_id: int, pid: int | None = None) -> None:
    """Record which process trains `run_id` (default: this one)."""
    path = _pid_file(settings, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(str(os.getpid() if pid is None else pid), encoding="utf-8")


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (a zombie child counts as gone)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _recorded_pid(settings: Settings, run_id: int) -> int | None:
    try:
        return int(_pid_file(settings, run_id).read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None


async def reconcile_runs(db: Database, settings: Settings) -> Reconciled:
    """Fail every unfinished run whose process is gone (with the reason), and remove the
    `adapters/.tmp-*` staging dirs once no run is alive to be writing one. Runs whose process
    is alive are not touched."""
    failed: list[int] = []
    alive = False
    now = time.time()
    for run in await training_queries.unfinished_runs(db):
        pid = _recorded_pid(settings, run.id)
        if pid is not None and pid_alive(pid):
            alive = True
            continue
        if pid is None and now - run.started_at < STARTING_GRACE_S:
            alive = True
            continue
        reason = (f"the process training it (pid {pid}) is gone" if pid is not None
                  else "no process is recorded for it (killed before it started)")
        await training_queries.update_run(db, run.id, status="failed", error=f"interrupted: {reason}")
        _pid_file(settings, run.id).unlink(missing_ok=True)
        log.warning("training run %s marked failed: %s", run.id, reason)
        failed.append(run.id)
    removed: list[str] = []
    if not alive and settings.adapters_dir.is_dir():
        for staging in sorted(settings.adapters_dir.glob(".tmp-*")):
            shutil.rmtree(staging, ignore_errors=True)
            removed.append(staging.name)
            log.info("removed the staging dir %s of an interrupted run", staging.name)
    return Reconciled(tuple(failed), tuple(removed))
