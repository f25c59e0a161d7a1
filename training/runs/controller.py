"""Starts training runs in a subprocess and watches them (implements `services.TrainingController`).

Training is CPU/GPU-heavy for minutes to hours; in a child process (`python -m training.runs.worker`) it
never blocks live replies and a crash in it cannot take the bot down. One run at a time, across
processes: the controller takes the run lock (`training.runs.lock`) before it records a run, and the
worker inherits it, so a server restarted while its old worker still trains refuses a second run.

When the worker has finished and the gate promoted its adapter, the controller promotes it through
`training.runs.promotion.promote_adapter`: the model swaps first, then the promotion is recorded, so a
model that cannot load the adapter leaves what is recorded as served unchanged. A child that dies
without finishing its run row gets the run marked failed; it changed nothing that is served.

The worker gets its settings in a private file, without secrets, and an environment without any
`TGTWIN_*` variable (the panel token, the Telegram API hash, the OpenAI key stay with the server).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from settings import Settings
from storage import Database, dataset_queries
from storage import training as training_queries
from training.config import load_preset
from training.runs.files import log_file, open_private_log, runs_dir, settings_file, write_private
from training.runs.lock import RunAlreadyRunning, acquire_run_lock, run_lock_holder
from training.runs.promotion import PromotionDecision, ServedElsewhere, ServesAdapters, promote_run_adapter
from training.runs.report import stored_report

log = logging.getLogger(__name__)
REPO_ROOT = Path(__file__).resolve().parents[2]
# Never written to the worker's settings file: it needs no Telegram or panel secrets.
SECRET_FIELDS = {"api_id", "api_hash", "admin_token", "openai_api_key"}

OnTraining = Callable[[bool], Awaitable[None]]

def worker_settings_json(settings: Settings) -> str:
    """Settings for the worker, without secrets and with an absolute data dir."""
    data = settings.model_dump(mode="json", exclude=SECRET_FIELDS)
    data["data_dir"] = str(Path(settings.data_dir).resolve())
    return json.dumps(data)


def worker_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The worker's environment: this one without `TGTWIN_*` (its settings file is its whole
    configuration, and those variables carry the panel token and the API secrets), with the
    repository on the import path."""
    env = {k: v for k, v in environ.items() if not k.startswith("TGTWIN_")}
    return {**env, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}


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
    """`async with TrainingController(settings, model) as training:`; `stop()` ends a live run.

    `model` is what a promoted adapter is swapped into (the server's live model); without one the
    promotion is only recorded, after the adapter was checked (`ServedElsewhere`)."""

    def __init__(
        self, settings: Settings, model: ServesAdapters | None = None, *, worker_module: str = "training.runs.worker",
        on_training: OnTraining | None = None,
    ) -> None:
        self.settings = settings
        self.model: ServesAdapters = model if model is not None else ServedElsewhere(settings.base_model)
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
        """A run of this controller's, or of any other process (a worker that outlived its server,
        the CLI's `train`), is in progress."""
        return self._busy or run_lock_holder(self.settings) is not None

    async def start_run(self, trigger: str, preset: str | None = None) -> int:
        """Record a run and start its worker; returns the run id. RunAlreadyRunning if one is going
        (here or in another process); training.config.PresetError for an unknown preset."""
        if self._busy:
            raise RunAlreadyRunning(f"training run {self.current_run_id} is still running")
        self._busy = True  # set before the first await: two callers can't both pass the check
        lock = None
        try:
            config = load_preset(preset or self.settings.training_preset)
            lock = await asyncio.to_thread(acquire_run_lock, self.settings)
            async with Database.open(self.settings.db_path) as db:
                owner_messages = await dataset_queries.owner_message_count(db)
                run = await training_queries.create_run(db, trigger, config.name, owner_messages)
            self.current_run_id = run.id
            self._process = await self._spawn(run.id, config.name, lock.fd)
            lock.note(run.id, self._process.pid)
        except BaseException:
            self._busy = False
            raise
        finally:
            if lock is not None:
                lock.close()  # the worker holds it from here on, for its whole life
        log.info("training run %s started (%s, preset %s, %s process(es), pid %s)", run.id, trigger, config.name,
                 self.settings.train_processes, self._process.pid)
        await self._tell_training(True)
        self._watcher = asyncio.create_task(self._watch(run.id, self._process), name=f"training-run-{run.id}")
        return run.id

    async def _spawn(self, run_id: int, preset: str, lock_fd: int) -> asyncio.subprocess.Process:
        runs_dir(self.settings)
        worker_settings = settings_file(self.settings, run_id)
        write_private(worker_settings, worker_settings_json(self.settings))
        with open_private_log(log_file(self.settings, run_id)) as log_out:
            return await asyncio.create_subprocess_exec(
                *worker_command(self.worker_module, self.settings.train_processes),
                "--run-id", str(run_id), "--preset", preset, "--settings-file", str(worker_settings.resolve()),
                "--server-pid", str(os.getpid()),
                cwd=str(REPO_ROOT), env=worker_environment(os.environ), stdin=asyncio.subprocess.DEVNULL,
                stdout=log_out, stderr=asyncio.subprocess.STDOUT, pass_fds=(lock_fd,),
            )

    async def _watch(self, run_id: int, process: asyncio.subprocess.Process) -> None:
        try:
            code = await process.wait()
            async with Database.open(self.settings.db_path) as db:
                run = await training_queries.get_run(db, run_id)
                if run.status == "running":
                    await training_queries.update_run(db, run_id, status="failed",
                                                      error=f"worker exited with code {code}")
                    log.warning("training run %s failed: worker exited with code %s", run_id, code)
                    return
                report = stored_report(run.report)
                decision = report.promotion if report else None
                log.info("training run %s %s (adapter %s, gate: %s)", run_id, run.status, run.adapter_id,
                         "promote" if decision and decision.promote else "keep")
                if run.status == "succeeded" and decision and decision.promote and run.adapter_id:
                    await self._promote(db, run_id, run.adapter_id, decision)
        except Exception:
            log.exception("watching training run %s failed", run_id)
        finally:
            settings_file(self.settings, run_id).unlink(missing_ok=True)
            self._process = None
            self._busy = False
            await self._tell_training(False)

    async def _promote(self, db: Database, run_id: int, adapter_id: str, decision: PromotionDecision) -> None:
        """Swap, then record; an adapter the model cannot load stays unpromoted, and the run says why."""
        try:
            await promote_run_adapter(db, self.model, run_id, adapter_id, decision)
        except Exception as exc:
            error = f"not served: the model could not load adapter {adapter_id} ({type(exc).__name__}: {exc})"
            await training_queries.update_run(db, run_id, error=error[:2000])
            log.warning("training run %s: adapter %s not served (%s)", run_id, adapter_id, type(exc).__name__)
            return
        log.info("training run %s: adapter %s promoted and served", run_id, adapter_id)

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
