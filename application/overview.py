"""What the dashboard and `/health`, `/api/status` show: read-only snapshots of the running parts,
and the global auto-reply switch."""

from __future__ import annotations

import weakref

from application.status import StatusFigures, StatusSnapshot, collect_status
from services import Services
from storage import Database, kv
from training.data.preference_pairs import PreferencePairCounts


def telegram_connected(services: Services) -> bool:
    return services.telegram is not None and bool(services.telegram.connected)


async def autoreply_enabled(services: Services) -> bool:
    return await kv.autoreply_enabled(services.db)


async def set_autoreply(services: Services, enabled: bool) -> bool:
    await kv.set_value(services.db, kv.AUTOREPLY_ENABLED, bool(enabled))
    return bool(enabled)


_figures: weakref.WeakKeyDictionary[Database, StatusFigures] = weakref.WeakKeyDictionary()


def _kept_figures(services: Services) -> StatusFigures:
    """One `StatusFigures` per database: the dashboard and every open panel poll the status."""
    figures = _figures.get(services.db)
    if figures is None:
        figures = _figures[services.db] = StatusFigures(services.settings)
    return figures


async def preference_pair_counts(services: Services) -> PreferencePairCounts:
    """The running app's preference pair counts (kept current, see `StatusFigures`)."""
    return await _kept_figures(services).pairs.counts(services.db)


async def snapshot(services: Services) -> StatusSnapshot:
    """The running app's status snapshot (`application.status.collect_status` with what runs here)."""
    return await collect_status(
        services.db, services.settings, model=services.model.status(), training=services.training,
        telegram_connected=telegram_connected(services), schedule=services.schedule,
        figures=_kept_figures(services),
    )
