"""Starts training runs in a subprocess and watches them (implements `services.TrainingController`).

Training is CPU/GPU-heavy for minutes to hours; in a child process (`python -m training.worker`) it
never blocks live replies and a crash in it cannot take the bot down. One run at a time. When the
child finishes and the gate promoted its adapter, `on_promoted(adapter_dir)` lets the model service
swap. A child that dies without finishing its run row gets the run marked failed; it changed
nothing that is served, because promotion is the worker's very last step.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from settings import Settings
from storage import Database, dataset_queries
from storage import training as training_queries
from training.config import load_preset

log = logging.getLogger(__name__)
REPO_ROOT = Path(__file__).resolve().parents[1]
# Never handed to the worker: it needs no Telegram or panel secrets.
SECRET_FIELDS = {"api_id", "api_hash", "admin_token", "openai_api_key"}

OnPromoted = Callable[[str | None], Awaitable[None]]
OnTraining = Callable[[bool], Awaitable[None]]


class RunAlreadyRunning(RuntimeError):
    """A training run is already in progress; runs never overlap."""


def worker_settings_json(settings: Settings) -> str:
    """Settings for the worker, without secrets and with an absolute data dir."""
    data = settings.model_dump(mode="json", exclude=SECRET_FIELDS)
    data["data_dir"] = str(Path(settings.data_dir).resolve())
    return json.dumps(data)


def worker_command(module: str, processes: int) -> list[str]:
    """The worker's command line: `python -m MODULE`, or with N > 1 processes
    `python -m torch.distributed.run --standalone --nproc_per_node N -m MODULE` (torchrun: gloo on
    CPU, nccl on GPUs; `--standalone` picks a free local port). torchrun stops the other processes
    when one fails, and exits non-zero."""
    if processes <= 1:
        return [sys.executable, "-m", module]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
            "-m", module]


class TrainingController:
    """`async with TrainingController(settings, on_promoted) as training:`; `stop()` ends a live run."""

    def __init__(
        self, settings: Settings, on_promoted: OnPromoted | None = None, *, worker_module: str = "training.worker",
        on_training: OnTraining | None = None,
    ) -> None:
        self.settings = settings
        self.on_promoted = on_promoted
        self.on_training = on_training  # told True when a worker starts, False when it has ended
        self.worker_module = worker_module
        self._busy = False
        self._process: asyncio.subprocess.Process | None = None
        self._watcher: asyncio.Task[None] | None = None
        self.current_run_id: int | None = None

    async def __aenter__(self) -> TrainingController:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def is_running(self) -> bool:
        return self._busy

    async def start_run(self, trigger: str, preset: str | None = None) -> int:
        """Record a run and start its worker; returns the run id. RunAlreadyRunning if one is going;
        training.config.PresetError for an unknown preset."""
        if self._busy:
            raise RunAlreadyRunning(f"training run {self.current_run_id} is still running")
        self._busy = True  # set before the first await: two callers can't both pass the check
        try:
            config = load_preset(preset or self.settings.training_preset)
            async with Database.open(self.settings.db_path) as db:
                owner_messages = await dataset_queries.owner_message_count(db)
                run = await training_queries.create_run(db, trigger, config.name, owner_messages)
            self.current_run_id = run.id
            self._process = await self._spawn(run.id, config.name)
        except BaseException:
            self._busy = False
            raise
        log.info("training run %s started (%s, preset %s, %s process(es), pid %s)", run.id, trigger, config.name,
                 self.settings.train_processes, self._process.pid)
        await self._tell_training(True)
        self._watcher = asyncio.create_task(self._watch(run.id, self._process), name=f"training-run-{run.id}")
        return run.id

    async def _spawn(self, run_id: int, preset: str) -> asyncio.subprocess.Process:
        runs_dir = Path(self.settings.data_dir) / "runs"
        runs_dir.mkdir(parents=True, exist_ok=True)
        settings_file = runs_dir / f"run-{run_id}.settings.json"
        settings_file.write_text(worker_settings_json(self.settings), encoding="utf-8")
        os.chmod(settings_file, 0o600)
        logs_dir = Path(self.settings.logs_dir)
        logs_dir.mkdir(parents=True, exist_ok=True)
        log_path = logs_dir / f"training-run-{run_id}.log"
        env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), PYTHONUNBUFFERED="1")
        with open(log_path, "ab") as log_file:
            return await asyncio.create_subprocess_exec(
                *worker_command(self.worker_module, self.settings.train_processes),
                "--run-id", str(run_id), "--preset", preset, "--settings-file", str(settings_file.resolve()),
                cwd=str(REPO_ROOT), env=env, stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file, stderr=asyncio.subprocess.STDOUT,
            )

    async def _watch(self, run_id: int, process: asyncio.subprocess.Process) -> None:
        try:
            code = await process.wait()
            async with Database.open(self.settings.db_path) as db:
                run = await training_queries.get_run(db, run_id)
                if run.status == "running":
                    await training_queries.update_run(db, run_id, status="failed", error=f"worker exited with code {code}")
                    log.warning("training run %s failed: worker exited with code %s", run_id, code)
                    return
                promoted = bool((run.report or {}).get("promotion", {}).get("promote"))
                log.info("training run %s %s (adapter %s, promoted: %s)", run_id, run.status, run.adapter_id, promoted)
                if run.status == "succeeded" and promoted and run.adapter_id and self.on_promoted is not None:
                    adapter = await training_queries.get_adapter(db, run.adapter_id)
                    await self.on_promoted(adapter.path)
        except Exception:
            log.exception("watching training run %s failed", run_id)
        finally:
            (Path(self.settings.data_dir) / "runs" / f"run-{run_id}.settings.json").unlink(missing_ok=True)
            self._process = None
            self._busy = False
            await self._tell_training(False)

    async def _tell_training(self, active: bool) -> None:
        if self.on_training is None:
            return
        try:
            await self.on_training(active)
        except Exception:
            log.exception("on_training(%s) failed", active)

    async def wait(self) -> None:
        """Until the current run (if any) has finished and been handled."""
        if self._watcher is not None:
            await asyncio.shield(self._watcher)

    async def stop(self) -> None:
        """Terminate a live run (at shutdown); the watcher then marks it failed."""
        process = self._process
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
        if self._watcher is not None:
            await asyncio.gather(self._watcher, return_exceptions=True)
