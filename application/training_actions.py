"""Training runs and adapters as the panel and the API drive them: start, promote, roll back.

Everything goes through the one training entry point (`services.training`) and the promotion
functions of `training.promotion`, so the CLI, the schedule and the panel cannot diverge.
"""

from __future__ import annotations

import logging

from admin_ui.errors import InvalidPreset, ModelFailed, NothingToRollBack, TrainingBusy, TrainingUnavailable
from services import Services
from storage import InvalidValue
from storage import training as training_queries
from storage.training import Adapter
from training.reconcile import reconcile_runs
from training.run_lock import RunAlreadyRunning

log = logging.getLogger(__name__)


async def start_training(services: Services, trigger: str, preset: str | None = None) -> int:
    """Start a run in the background and return its id; the request never waits for training.
    TrainingBusy while a run trains, in this process or another (a worker that outlived a restart)."""
    controller = services.training
    if controller is None:
        raise TrainingUnavailable("training is not available in this process")
    if controller.is_running():
        raise TrainingBusy("a training run is already in progress")
    from training.config import PresetError, list_presets

    if preset is not None and preset not in list_presets():
        raise InvalidPreset(f"unknown preset {preset!r}; choose one of {', '.join(list_presets())}")
    await reconcile_runs(services.db, services.settings)
    try:
        run_id = await controller.start_run(trigger, preset)
    except PresetError as exc:
        raise InvalidPreset(str(exc)) from exc
    except RunAlreadyRunning as exc:  # another caller (the schedule, the CLI) started one first
        raise TrainingBusy(str(exc)) from exc
    log.info("training run %s started (%s, preset %s)", run_id, trigger, preset or "default")
    return run_id


def preset_names() -> list[str]:
    from training.config import list_presets

    return list_presets()


async def promote(services: Services, adapter_id: str, reason: str) -> Adapter:
    from training.promotion import promote_adapter

    await training_queries.get_adapter(services.db, adapter_id)  # unknown id → NotFound → 404
    try:
        await promote_adapter(services.db, services.model, adapter_id, reason)
    except Exception as exc:  # the swap failed (missing dir, incompatible base): nothing was recorded
        log.warning("promoting adapter %s failed: %s", adapter_id, type(exc).__name__)
        raise ModelFailed(f"the model could not load adapter {adapter_id} ({type(exc).__name__}: {exc})") from exc
    log.info("adapter %s promoted from the panel", adapter_id)
    return await training_queries.get_adapter(services.db, adapter_id)


async def rollback(services: Services) -> Adapter | None:
    """Serve what was promoted before; returns it (None = the base model)."""
    from training.promotion import rollback_adapter

    try:
        await rollback_adapter(services.db, services.model)
    except InvalidValue as exc:
        raise NothingToRollBack(str(exc)) from exc
    except Exception as exc:
        log.warning("rollback swap failed: %s", type(exc).__name__)
        raise ModelFailed(f"the model could not load the previous adapter ({type(exc).__name__}: {exc})") from exc
    current = await training_queries.promoted_adapter(services.db)
    log.info("rolled back; now serving %s", current.id if current else "the base model")
    return current
