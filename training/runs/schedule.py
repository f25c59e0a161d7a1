"""Scheduled retraining (apscheduler 3, `AsyncIOScheduler`): cron or interval from settings.

A tick starts a run through the controller when enough new owner messages arrived since the last
successful run, or while as many owner turns are not learned yet (coverage, `training.data.coverage`: a
long history takes several runs, each continuing the last); otherwise it records a `skipped` run
with the reason. So the job keeps running until coverage is full, then trains on new messages (plus
the replay share). Runs never overlap: the job has `max_instances=1`, and a tick while a run is
going is skipped too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from services import TrainingController
from settings import Settings
from storage import Database, dataset_queries
from storage import training as training_queries
from training.data.coverage import current_coverage
from training.runs.report import skip_note

log = logging.getLogger(__name__)
JOB_ID = "retrain"


@dataclass(frozen=True, slots=True)
class TickOutcome:
    """What one scheduler tick did: started run `run_id`, or recorded a skipped run."""

    run_id: int
    started: bool
    reason: str


def build_trigger(settings: Settings) -> Any | None:
    """The apscheduler trigger from settings: cron wins over interval; neither → None (no schedule)."""
    if settings.retrain_cron.strip():
        from apscheduler.triggers.cron import CronTrigger

        return CronTrigger.from_crontab(settings.retrain_cron.strip(), timezone=settings.timezone)
    if settings.retrain_interval_hours > 0:
        from apscheduler.triggers.interval import IntervalTrigger

        return IntervalTrigger(hours=settings.retrain_interval_hours, timezone=settings.timezone)
    return None


async def new_owner_messages(db: Database) -> tuple[int, int]:
    """(owner messages now, how many arrived since the last successful run started)."""
    total = await dataset_queries.owner_message_count(db)
    last = await training_queries.last_finished_run(db)
    baseline = (last.owner_messages or 0) if last is not None else 0
    return total, max(0, total - baseline)


async def _unlearned_turns(db: Database, settings: Settings) -> int:
    """Owner turns of the training split the next run's adapter has not learned."""
    coverage = await current_coverage(db, settings)
    return coverage.owner_turns - coverage.learned


async def _record_skip(db: Database, settings: Settings, owner_messages: int, reason: str) -> int:
    run = await training_queries.create_run(db, "schedule", settings.training_preset, owner_messages, status="skipped")
    await training_queries.update_run(db, run.id, status="skipped", error=reason, report=skip_note(reason))
    log.info("scheduled retrain skipped: %s", reason)
    return run.id


async def retrain_tick(settings: Settings, controller: TrainingController) -> TickOutcome:
    """One scheduled check: start a run, or record why not."""
    from training.runs.controller import RunAlreadyRunning

    async with Database.open(settings.db_path) as db:
        total, new = await new_owner_messages(db)
        least = settings.retrain_min_new_messages
        unlearned = None if new >= least else await _unlearned_turns(db, settings)
        if controller.is_running():
            reason = "a training run is already in progress"
        elif unlearned is not None and unlearned < least:
            reason = (f"{new} new owner messages since the last run (< {least}) "
                      f"and {unlearned} owner turns not yet learned")
        else:
            try:
                run_id = await controller.start_run("schedule")
            except RunAlreadyRunning:
                reason = "a training run is already in progress"
            else:
                why = f"{new} new owner messages" if unlearned is None else f"{unlearned} owner turns not yet learned"
                return TickOutcome(run_id, True, why)
        return TickOutcome(await _record_skip(db, settings, total, reason), False, reason)


class RetrainSchedule:
    """`async with RetrainSchedule(settings, controller) as schedule:` — runs the job while inside.
    With neither `retrain_cron` nor `retrain_interval_hours` set it does nothing."""

    def __init__(self, settings: Settings, controller: TrainingController) -> None:
        self.settings = settings
        self.controller = controller
        self._scheduler: Any | None = None

    async def __aenter__(self) -> "RetrainSchedule":
        trigger = build_trigger(self.settings)
        if trigger is None:
            return self
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        scheduler = AsyncIOScheduler(timezone=self.settings.timezone)
        scheduler.add_job(self.tick, trigger, id=JOB_ID, max_instances=1, coalesce=True, misfire_grace_time=3600)
        scheduler.start()
        self._scheduler = scheduler
        log.info("retraining scheduled (%s)", trigger)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None

    async def tick(self) -> TickOutcome | None:
        """The scheduled job. Errors are logged, never raised into the scheduler."""
        try:
            return await retrain_tick(self.settings, self.controller)
        except Exception:
            log.exception("scheduled retrain failed to start")
            return None

    @property
    def next_run_time(self) -> Any | None:
        """When the next check happens (None without a schedule)."""
        if self._scheduler is None:
            return None
        job = self._scheduler.get_job(JOB_ID)
        return None if job is None else job.next_run_time
