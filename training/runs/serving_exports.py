"""What a run leaves for serving beside the adapter: the CTranslate2 export of an adapter the gate
promotes, built in the training process, and the pruning of exports no longer served."""

from __future__ import annotations

import logging
from pathlib import Path

from settings import Settings
from storage import Database
from storage import training as training_queries

log = logging.getLogger(__name__)


def export_for_serving(settings: Settings, adapter_dir: Path) -> None:
    """Build what the CTranslate2 engine serves (the adapter merged into int8 weights, inside the
    adapter directory) here in the training process, so the swap after promotion only loads it.
    A failure costs nothing but time: the service then builds the export itself, beside serving."""
    from model.ct2_export import ensure_export, serving_engine

    if settings.model_backend != "local" or serving_engine(settings.serving_engine) != "ct2":
        return
    try:
        ensure_export(settings.base_model, settings.models_dir, adapter_dir)
    except Exception as exc:
        log.warning("the CTranslate2 export of %s failed (the model service will retry): %s: %s",
                    adapter_dir.name, type(exc).__name__, exc)


async def prune_exports(db: Database, keep: set[str | None]) -> None:
    """Serving exports only for the adapter now promoted and the one before it (the rollback)."""
    from model.ct2_export import prune_exports as prune

    removed = prune(a.path for a in await training_queries.list_adapters(db) if a.id not in keep)
    if removed:
        log.info("removed %s serving export(s) of adapters no longer promoted", removed)
