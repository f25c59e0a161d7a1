"""Training runs and adapters as the CLI, the panel and the API drive them: start a run, promote,
roll back. One path each for every face.

A run goes through the one training entry point: in the background through the running app's
controller (`start_training`: the panel, the API), or in this process (`train_now`: the CLI's
`train`, also under torchrun); both check the preset and reconcile dead runs the same way first.
Promotion goes through `training.runs.promotion`, with the live model (the running app) or
`ServedElsewhere` (the CLI: a running server's watcher swaps within seconds). A refusal is the
caller's to show (the CLI's error line, the panel's toast, the API's answer), so its log record
goes to the log file only.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from application.errors import InvalidPreset, ModelFailed, NothingToRollBack, TrainingBusy, TrainingUnavailable
from logging_setup import FILE_ONLY
from services import Services
from settings import Settings
from storage import Database, InvalidValue
from storage import training as training_queries
from storage.training import Adapter

if TYPE_CHECKING:
    from training.runs.promotion import ServesAdapters
    from training.runs.run import RunResult

log = logging.getLogger(__name__)


def preset_names() -> list[str]:
    from training.config import list_presets

    return list_presets()


def _check_preset(preset: str | None) -> None:
    """Only a shipped preset's name is read as a file name."""
    if preset is not None and preset not in preset_names():
        raise InvalidPreset(f"unknown preset {preset!r}; choose one of {', '.join(preset_names())}")


async def start_training(services: Services, trigger: str, preset: str | None = None) -> int:
    """Start a run in the background and return its id; the request never waits for training.
    TrainingBusy while a run trains, in this process or another (a worker that outlived a restart)."""
    from training.config import PresetError
    from training.runs.lock import RunAlreadyRunning
    from training.runs.reconcile import reconcile_runs

    controller = services.training
    if controller is None:
        raise TrainingUnavailable("training is not available in this process")
    if controller.is_running():
        raise TrainingBusy("a training run is already in progress")
    _check_preset(preset)
    await reconcile_runs(services.db, services.settings)
    try:
        run_id = await controller.start_run(trigger, preset)
    except PresetError as exc:
        raise InvalidPreset(str(exc)) from exc
    except RunAlreadyRunning as exc:  # another caller (the schedule, the CLI) started one first
        raise TrainingBusy(str(exc)) from exc
    log.info("training run %s started (%s, preset %s)", run_id, trigger, preset or "default")
    return run_id


async def train_now(settings: Settings, preset: str | None = None, overrides: dict[str, Any] | None = None,
                    trigger: str = "cli") -> RunResult:
    """Train, evaluate and gate a run in this process and wait for it (`training.runs.run.run_training`).
    TrainingBusy while another run trains; `training.runs.run.TrainingError` when the run fails."""
    from training.config import PresetError
    from training.runs.lock import RunAlreadyRunning
    from training.runs.reconcile import reconcile_runs
    from training.runs.run import run_training

    _check_preset(preset)
    async with Database.open(settings.db_path) as db:
        await reconcile_runs(db, settings)
    try:
        return await run_training(settings, preset=preset, trigger=trigger, overrides=overrides)
    except PresetError as exc:  # the configured default preset (TGTWIN_TRAINING_PRESET) is unusable
        raise InvalidPreset(str(exc)) from exc
    except RunAlreadyRunning as exc:
        raise TrainingBusy(str(exc)) from exc


async def promote(db: Database, model: ServesAdapters, adapter_id: str, reason: str) -> Adapter:
    """Serve `adapter_id` from now on (storage.NotFound if unknown); ModelFailed when the model
    cannot load it, and then nothing is recorded."""
    from training.runs.promotion import promote_adapter

    await training_queries.get_adapter(db, adapter_id)  # unknown id → NotFound → 404
    try:
        await promote_adapter(db, model, adapter_id, reason)
    except Exception as exc:  # the swap failed (missing dir, incompatible base): nothing was recorded
        log.warning("promoting adapter %s failed: %s", adapter_id, type(exc).__name__, extra=FILE_ONLY)
        raise ModelFailed(f"the model could not load adapter {adapter_id} ({type(exc).__name__}: {exc})") from exc
    log.info("adapter %s promoted", adapter_id)
    return await training_queries.get_adapter(db, adapter_id)


async def rollback(db: Database, model: ServesAdapters) -> Adapter | None:
    """Serve what was promoted before; returns it (None = the base model). NothingToRollBack when
    nothing was ever promoted; ModelFailed when the model cannot load it."""
    from training.runs.promotion import rollback_adapter

    try:
        await rollback_adapter(db, model)
    except InvalidValue as exc:
        raise NothingToRollBack(str(exc)) from exc
    except Exception as exc:
        log.warning("rollback swap failed: %s", type(exc).__name__, extra=FILE_ONLY)
        raise ModelFailed(f"the model could not load the previous adapter ({type(exc).__name__}: {exc})") from exc
    current = await training_queries.promoted_adapter(db)
    log.info("rolled back; now serving %s", current.id if current else "the base model")
    return current
