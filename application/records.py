"""The owner's records as the panel and the API read and change them: chat settings, drafts, the
reply log, training runs and adapters. One seam over storage for both, so neither writes SQLite
directly and a rule (a limit, a default) lives here once."""

from __future__ import annotations

from typing import Any

from services import Services
from storage import ReplyMode
from storage import chats as chat_queries
from storage import replies as reply_queries
from storage import training as training_queries
from storage.replies import Draft, DraftStatus, ReplyLogEntry
from storage.training import Adapter, TrainingRun

_UNSET: Any = object()


async def update_chat(
    services: Services, chat_id: int, *, mode: ReplyMode | None = None, relationship: str | None = _UNSET,
    train: bool | None = _UNSET,
) -> None:
    """Change a chat's reply mode, relationship tag or training opt-in; what is left out stays.
    `relationship=None` / `train=None` clear the value (train back to the default by chat type)."""
    changes: dict[str, Any] = {}
    if mode is not None:
        changes["reply_mode"] = mode
    if relationship is not _UNSET:
        changes["relationship"] = relationship
    if train is not _UNSET:
        changes["train"] = train
    await chat_queries.update_chat_settings(services.db, chat_id, **changes)


async def confirm_relationship(services: Services, chat_id: int) -> None:
    """The owner accepts the chat's suggested relationship (`storage.chats.confirm_relationship`):
    NotFound for an unknown chat, InvalidValue when there is nothing to confirm."""
    await chat_queries.confirm_relationship(services.db, chat_id)


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
    """Training runs, newest first."""
    return await training_queries.list_runs(services.db, limit)


async def run(services: Services, run_id: int) -> TrainingRun:
    return await training_queries.get_run(services.db, run_id)


async def latest_report(services: Services) -> dict[str, Any] | None:
    """The report of the most recent run that has one (a running or failed run may have none)."""
    return next((r.report for r in await training_queries.list_runs(services.db, 20) if r.report), None)


async def adapters(services: Services) -> list[Adapter]:
    """Trained adapters, newest first."""
    return await training_queries.list_adapters(services.db)


async def promoted_adapter(services: Services) -> Adapter | None:
    """What is served now; None = the base model."""
    return await training_queries.promoted_adapter(services.db)

