"""Background jobs (import, harvest): started by a request, watched by polling, never awaited inline.

Jobs live in memory for the life of the process; their effects (rows) are in SQLite, which is what
survives a restart. Training runs are not jobs: they have their own table and controller.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from application.errors import JobBusy, JobNotFound

log = logging.getLogger(__name__)

JobStatus = Literal["running", "succeeded", "failed"]
JobKind = Literal["import", "harvest"]


@dataclass
class Job:
    id: int
    kind: JobKind
    status: JobStatus = "running"
    progress: float | None = None
    message: str = ""
    result: dict[str, Any] | None = None
    error: str | None = None
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None


class ProgressReporter:
    """Handed to a job's work: `report(fraction, message)` updates what the panel shows."""

    def __init__(self, job: Job) -> None:
        self._job = job

    def report(self, fraction: float | None = None, message: str | None = None) -> None:
        if fraction is not None:
            self._job.progress = max(0.0, min(1.0, float(fraction)))
        if message is not None:
            self._job.message = message


JobWork = Callable[[ProgressReporter], Awaitable[dict[str, Any]]]


class JobRegistry:
    """Runs at most one job per kind at a time, keeps every job's outcome for polling."""

    def __init__(self) -> None:
        self._jobs: dict[int, Job] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._ids = itertools.count(1)

    def start(self, kind: JobKind, work: JobWork) -> Job:
        if any(j.kind == kind and j.status == "running" for j in self._jobs.values()):
            raise JobBusy(f"a {kind} job is already running")
        job = Job(id=next(self._ids), kind=kind)
        self._jobs[job.id] = job
        self._tasks[job.id] = asyncio.get_running_loop().create_task(self._run(job, work), name=f"job-{kind}-{job.id}")
        log.info("job %s (%s) started", job.id, kind)
        return job

    async def _run(self, job: Job, work: JobWork) -> None:
        try:
            job.result = await work(ProgressReporter(job))
        except asyncio.CancelledError:
            job.status, job.error = "failed", "cancelled"
            raise
        except Exception as exc:  # a job's failure is its outcome, shown to the owner, not a crash
            job.status, job.error = "failed", f"{type(exc).__name__}: {exc}"
            log.warning("job %s (%s) failed: %s", job.id, job.kind, type(exc).__name__)
            log.debug("job %s traceback", job.id, exc_info=True)
        else:
            job.status, job.progress = "succeeded", 1.0
            log.info("job %s (%s) succeeded", job.id, job.kind)
        finally:
            job.finished_at = time.time()
            self._tasks.pop(job.id, None)

    def get(self, job_id: int) -> Job:
        try:
            return self._jobs[job_id]
        except KeyError:
            raise JobNotFound(f"job {job_id} not found") from None

    def list(self) -> list[Job]:
        """Newest first."""
        return sorted(self._jobs.values(), key=lambda j: j.id, reverse=True)

    async def wait(self, job_id: int) -> Job:
        """Until the job ends (tests, CLI)."""
        task = self._tasks.get(job_id)
        if task is not None:
            await asyncio.wait({task})
        return self.get(job_id)

    async def cancel_all(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
