"""The owner's records as the panel and the API read them: drafts, the reply log, training runs and
adapters (chats and their settings are `application.chats`). One seam over storage for both, so
neither reads SQLite directly and a rule (a limit, a default) lives here once."""

from __future__ import annotations

from services import Services
from storage import replies as reply_queries
from storage import training as training_queries
from storage.replies import Draft, DraftStatus, ReplyLogEntry
from storage.training import Adapter, TrainingRun
from training.runs.report import RunReport, stored_report


async def drafts(services: Services, status: DraftStatus | None = None, limit: int = 200) -> list[Draft]:
    """Drafts, newest first."""
    return await reply_queries.list_drafts(services.db, status, limit)


async def draft(services: Services, draft_id: int) -> Draft:
    return await reply_queries.get_draft(services.db, draft_id)


async def decisions(
    services: Services, chat_id: int | None = None, limit: int = 200, since: int | None = None
) -> list[ReplyLogEntry]:
    """The reply log, newest first."""
    return await reply_queries.list_decisions(services.db, chat_id, limit, since)


async def runs(services: Services, limit: int = 100) -> list[TrainingRun]:
    """Training runs, newest first; a run whose worker died elsewhere shows as failed
    (`training.runs.reconcile`)."""
    from training.runs.reconcile import reconcile_runs

    await reconcile_runs(services.db, services.settings)
    return await training_queries.list_runs(services.db, limit)


async def run(services: Services, run_id: int) -> TrainingRun:
    return await training_queries.get_run(services.db, run_id)


async def latest_report(services: Services) -> RunReport | None:
    """The report of the most recent of the last 20 runs that has one (a running, failed or skipped
    run has none)."""
    reports = (stored_report(r.report) for r in await training_queries.list_runs(services.db, 20))
    return next((report for report in reports if report is not None), None)


async def adapters(services: Services) -> list[Adapter]:
    """Trained adapters, newest first."""
    return await training_queries.list_adapters(services.db)


async def promoted_adapter(services: Services) -> Adapter | None:
    """What is served now; None = the base model."""
    return await training_queries.promoted_adapter(services.db)
