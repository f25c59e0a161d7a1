"""Runs left behind by a killed process: find them, mark them failed, clean their staging dirs.

A run is alive while the process training it is. Two records tell: the run lock
(`training.runs.lock`), which whoever creates a run row takes first and which the process training
it holds until it dies, and `<data>/runs/run-<id>.pid`, where that process records its pid as soon
as the run has an id (`record_run_process`, called by `training.runs.run.run_training`, which the CLI's
`train` and the controller's worker both go through). With the lock free no run is alive, so every
unfinished row is a dead one's; with it held, the rows whose process lives are kept (a server
restarted while its worker trains keeps that run `running`). Every entry point that starts or lists
runs calls `reconcile_runs` first: `run`/`serve` at start-up, the API's run list and start, the
CLI's `train`, `eval` and `status`.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass

from settings import Settings
from storage import Database
from storage import training as training_queries
from training.runs.files import pid_file, runs_dir, write_private
from training.runs.lock import run_lock_holder

log = logging.getLogger(__name__)

STARTING_GRACE_S = 120
"""The controller creates a run row a moment before its worker records its pid; while the lock is
held, younger runs without a pid file are left alone."""


@dataclass(frozen=True, slots=True)
class Reconciled:
    failed_runs: tuple[int, ...]
    removed_staging: tuple[str, ...]


def record_run_process(settings: Settings, run_id: int, pid: int | None = None) -> None:
    """Record which process trains `run_id` (default: this one); the file is private (0600)."""
    runs_dir(settings)
    write_private(pid_file(settings, run_id), str(os.getpid() if pid is None else pid))


def forget_run_process(settings: Settings, run_id: int) -> None:
    """The run is over (finished or failed, recorded): its pid file goes."""
    pid_file(settings, run_id).unlink(missing_ok=True)


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
        return int(pid_file(settings, run_id).read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None


async def reconcile_runs(db: Database, settings: Settings) -> Reconciled:
    """Fail every unfinished run whose process is gone (with the reason), and remove the
    `adapters/.tmp-*` staging dirs once no run is alive to be writing one. Runs whose process
    is alive are not touched."""
    runs = await training_queries.unfinished_runs(db)
    # Looked at after listing: a row created since is not in `runs`; one whose creator let go of
    # the lock has its final status written already (the status is written before the lock goes).
    locked = run_lock_holder(settings) is not None
    failed: list[int] = []
    now = time.time()
    for run in runs:
        pid = _recorded_pid(settings, run.id)
        if locked and (pid_alive(pid) if pid is not None else now - run.started_at < STARTING_GRACE_S):
            continue  # its process lives (or is starting)
        if (await training_queries.get_run(db, run.id)).status not in ("running", "queued"):
            continue  # it finished while we looked
        if pid is None:
            reason = "no process is recorded for it (killed before it started)"
        elif pid_alive(pid):  # the pid names another process now: no run holds the lock
            reason = f"the process training it (pid {pid}) is gone; that pid holds no run lock"
        else:
            reason = f"the process training it (pid {pid}) is gone"
        await training_queries.update_run(db, run.id, status="failed", error=f"interrupted: {reason}")
        forget_run_process(settings, run.id)
        log.warning("training run %s marked failed: %s", run.id, reason)
        failed.append(run.id)
    removed: list[str] = []
    if not locked and settings.adapters_dir.is_dir():  # no run is alive to be writing one
        for staging in sorted(settings.adapters_dir.glob(".tmp-*")):
            shutil.rmtree(staging, ignore_errors=True)
            removed.append(staging.name)
            log.info("removed the staging dir %s of an interrupted run", staging.name)
    return Reconciled(tuple(failed), tuple(removed))
