"""Which adapter `tgtwin eval` shows, and its evaluation report."""

from __future__ import annotations

from dataclasses import dataclass

from storage import Database, NotFound
from storage import training as training_queries
from storage.training import Adapter
from training.runs.report import AdapterMetrics, RunReport, stored_report


@dataclass(frozen=True, slots=True)
class AdapterReport:
    adapter: Adapter
    run: RunReport | None
    """The training run's report; None for an adapter without a run row (or one without a report)."""
    metrics: AdapterMetrics
    """What the adapter row kept of it: all there is to show when `run` is None."""


async def adapter_report(db: Database, adapter_id: str | None = None) -> AdapterReport | None:
    """The named adapter (NotFound if unknown), else the promoted one, else the newest; None when
    there are no adapters at all."""
    if adapter_id is not None:
        chosen: Adapter | None = await training_queries.get_adapter(db, adapter_id)
    else:
        chosen = await training_queries.promoted_adapter(db)
        if chosen is None:
            adapters = await training_queries.list_adapters(db)
            chosen = adapters[0] if adapters else None
    if chosen is None:
        return None
    report = None
    if chosen.run_id is not None:
        try:
            report = stored_report((await training_queries.get_run(db, chosen.run_id)).report)
        except NotFound:
            report = None
    return AdapterReport(chosen, report, AdapterMetrics.from_json(chosen.metrics))
