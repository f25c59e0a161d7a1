"""The in-process model service (`TGTWIN_MODEL_BACKEND=local`): implements `services.ReplyModel`.

One worker thread owns the model. Everything that touches it — loading the base and the promoted
adapter, generating, swapping adapters — is a job on that thread, in arrival order, so a swap
happens strictly between two requests and no request ever sees a half-swapped model. The event
loop only waits on futures. Waiting requests are bounded (`ModelBusy` past the limit), and each
request gives up after `generation_timeout_s` (`GenerationTimeout`); a timed-out generation is
told to stop at its next token, a timed-out queued one never starts.

The model itself is an engine (`TGTWIN_SERVING_ENGINE`): CTranslate2 int8 on a CPU-only machine
(`auto`, where installed), torch with peft otherwise. An adapter the CTranslate2 engine has no
export for yet is converted on a helper thread while the old adapter keeps serving.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol, TypeVar

from model.adapter_format import serving_format
from model.candidates import ChosenReplies, ReplyEngine, choose
from model.dialogue import Dialogue
from model.generation import GenerationSettings
from model.prompt import PromptFormat
from model.status import ModelStatus
from settings import Settings

log = logging.getLogger(__name__)

META_FILE = "meta.json"
DEFAULT_MAX_WAITING = 8

State = Literal["stopped", "loading", "ready", "error"]
T = TypeVar("T")


class ModelServiceError(RuntimeError):
    """The local model could not serve a request."""


class ModelNotReady(ModelServiceError):
    """The model is still loading (past the wait), failed to load, or the service is stopped."""


class ModelBusy(ModelServiceError):
    """Too many requests are already waiting for the model."""


class GenerationTimeout(ModelServiceError):
    """A generation did not finish within `generation_timeout_s`."""


class AdapterError(ModelServiceError):
    """An adapter directory cannot be served (missing files, or trained on another base model)."""


@dataclass(frozen=True, slots=True)
class AdapterInfo:
    """What `meta.json` of an adapter directory says (written by training)."""

    path: str
    base_model: str | None
    preset: str | None
    meta: dict[str, Any]


def read_adapter_info(adapter_dir: str | Path) -> AdapterInfo:
    """Check an adapter directory's files and read its `meta.json` (missing meta → unknown base)."""
    path = Path(adapter_dir)
    if not path.is_dir():
        raise AdapterError(f"adapter directory {path} does not exist")
    if not (path / "adapter_config.json").is_file():
        raise AdapterError(f"{path} is not a peft adapter (no adapter_config.json)")
    meta: dict[str, Any] = {}
    if (path / META_FILE).is_file():
        try:
            meta = json.loads((path / META_FILE).read_text(encoding="utf-8"))
        except ValueError as exc:
            raise AdapterError(f"{path / META_FILE} is not valid JSON: {exc}") from None
    return AdapterInfo(str(path), meta.get("base_model"), meta.get("preset"), meta)


def check_adapter(adapter_dir: str | Path, base_model: str) -> AdapterInfo:
    """`read_adapter_info`, and refuse an adapter trained on another base model than `base_model`
    (`AdapterError`): what a model service on that base would refuse to swap to."""
    info = read_adapter_info(adapter_dir)
    if info.base_model is not None and info.base_model != base_model:
        raise AdapterError(f"adapter {Path(info.path).name} was trained on {info.base_model}, "
                           f"but the base model here is {base_model}")
    return info


class Engine(ReplyEngine, Protocol):
    """A serving engine: `model.torch_engine.TorchEngine` or `model.ct2_engine.Ct2Engine`
    (`TGTWIN_SERVING_ENGINE`). `prepare` may run on any thread; the rest on the worker thread."""

    name: str
    device: str
    dtype: str
    threads: int

    def load(self) -> None:
        """Load the tokenizer and the bare base model."""

    def prepare(self, adapter_dir: str) -> None:
        """Build what serving `adapter_dir` needs (slow; nothing is served from it yet)."""

    def activate(self, adapter_dir: str | None) -> None:
        """Serve `adapter_dir` (None = the bare base); on failure the old one stays."""

    def use_threads(self, threads: int) -> None:
        """CPU threads for the next request."""

    def close(self) -> None:
        """Release the model (and give back process-wide settings)."""


def serving_threads(training: bool, cpus: int | None = None, load: float | None = None) -> int:
    """CPU threads for serving (the training worker, a process of its own, has its own pool).

    While a run trains: `inference_threads()`; the worker (lower priority) takes the other cores.
    Otherwise every core, unless other work already keeps them busy (1-minute load average at or
    above cores - 1): OpenMP's per-op barriers collapse on oversubscribed cores. Measured with
    bench/generate_bench.py on 2 shared cores at load ~9: a 30-token reply took 55 s with 2 threads
    against 5.2 s with 1."""
    from model.sources import inference_threads

    cpus = cpus or os.cpu_count() or 1
    load = os.getloadavg()[0] if load is None else load
    if training or load >= cpus - 1:
        return inference_threads()
    return cpus


class ModelService:
    """Base model + one adapter, served off the event loop. Use as `async with ModelService(...)`."""

    def __init__(self, settings: Settings, adapter_dir: str | None = None, *,
                 max_waiting: int = DEFAULT_MAX_WAITING) -> None:
        self.settings = settings
        self.max_waiting = max_waiting
        self._requested_adapter = adapter_dir
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._loaded: asyncio.Future[None] | None = None
        self._state: State = "stopped"
        self._error: str | None = None
        self._adapter_error: str | None = None
        self._waiting = 0
        # Set on the worker thread only:
        self._engine: Engine | None = None
        self._format: PromptFormat | None = None
        self._base_format: PromptFormat | None = None
        self._adapter: AdapterInfo | None = None
        self._last_latency_s: float | None = None
        self._training = False

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> ModelService:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Start loading in the background; returns at once (see `status()` and `wait_ready()`)."""
        if self._executor is not None:
            return
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="tgtwin-model")
        self._state = "loading"
        self._loaded = asyncio.get_running_loop().run_in_executor(self._executor, self._load)
        self._loaded.add_done_callback(self._load_finished)

    async def aclose(self) -> None:
        executor, self._executor = self._executor, None
        self._state = "stopped"
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        if self._engine is not None:
            self._engine.close()

    async def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until the base model is loaded; `ModelNotReady` if it failed or takes longer."""
        if self._loaded is None or self._executor is None:
            raise ModelNotReady("the model service is not started")
        try:
            await asyncio.wait_for(asyncio.shield(self._loaded), timeout)
        except TimeoutError:
            raise ModelNotReady(f"the model is still loading after {timeout:g}s") from None
        except Exception:
            raise ModelNotReady(f"the model failed to load: {self._error}") from None

    def _load_finished(self, future: asyncio.Future[None]) -> None:
        if future.cancelled():
            return
        error = future.exception()
        if error is None:
            self._state = "ready" if self._executor is not None else "stopped"
        else:
            self._state, self._error = "error", f"{type(error).__name__}: {error}"
            log.error("model service: loading %s failed: %s", self.settings.base_model, self._error)

    # ------------------------------------------------------------------ ReplyModel

    async def reply(self, dialogue: Dialogue) -> list[str]:
        return (await self.candidates(dialogue, 1)).replies[0]

    async def candidates(self, dialogue: Dialogue, n: int) -> ChosenReplies:
        if n < 1:
            raise ValueError("n must be at least 1")
        gen = GenerationSettings.from_settings(self.settings)
        return await self._run(lambda cancelled: self._generate(dialogue, gen, n, cancelled))

    async def swap_adapter(self, adapter_dir: str | None) -> None:
        """Serve `adapter_dir` (None = the bare base model) from the next request on. An adapter
        trained on another base, or one that fails to load, is refused and the old one stays."""
        if adapter_dir is not None:
            check_adapter(adapter_dir, self.settings.base_model)
        await self.wait_ready(self.settings.generation_timeout_s)
        assert self._executor is not None and self._engine is not None
        if adapter_dir is not None:  # a missing export is built beside serving, not in its queue
            try:
                await asyncio.to_thread(self._engine.prepare, adapter_dir)
            except Exception as exc:
                raise AdapterError(f"cannot prepare adapter {Path(adapter_dir).name}: {exc}") from exc
        future = asyncio.get_running_loop().run_in_executor(self._executor, self._activate, adapter_dir)
        await future  # not timed out: a half-finished swap must not be abandoned

    async def set_training_active(self, active: bool) -> None:
        """A training run started (True) or ended (False): serving takes fewer or all cores from its
        next request on (`serving_threads`). Wired as the training controller's `on_training`."""
        self._training = active

    def status(self) -> ModelStatus:
        adapter, engine = self._adapter, self._engine
        return ModelStatus(
            backend="local", state=self._state, base_model=self.settings.base_model,
            adapter_id=Path(adapter.path).name if adapter else None,
            adapter_path=adapter.path if adapter else None,
            adapter_preset=adapter.preset if adapter else None,
            adapter_error=self._adapter_error, error=self._error,
            device=engine.device if engine else "cpu", dtype=(engine.dtype or None) if engine else None,
            engine=engine.name if engine else None,
            prompt_style=self._format.style if self._format else None,
            prompt_memory=self._format.memory if self._format else None,
            waiting=self._waiting, last_latency_s=self._last_latency_s,
        )

    # ------------------------------------------------------------------ request plumbing

    async def _run(self, job: Callable[[threading.Event], T]) -> T:
        timeout = self.settings.generation_timeout_s
        if self._waiting >= self.max_waiting:
            raise ModelBusy(f"{self._waiting} requests are already waiting for the model")
        self._waiting += 1
        try:
            started = time.monotonic()
            await self.wait_ready(timeout)
            assert self._executor is not None
            cancelled = threading.Event()

            def guarded() -> T:
                if cancelled.is_set():  # timed out while queued: don't start
                    raise GenerationTimeout("timed out before it started")
                return job(cancelled)

            future = asyncio.get_running_loop().run_in_executor(self._executor, guarded)
            remaining = max(0.0, timeout - (time.monotonic() - started))
            try:
                return await asyncio.wait_for(asyncio.shield(future), remaining)
            except TimeoutError:
                cancelled.set()
                future.add_done_callback(_consume)  # its late result or error is nobody's
                raise GenerationTimeout(f"no reply within {timeout:g}s") from None
        finally:
            self._waiting -= 1

    # ------------------------------------------------------------------ worker thread

    def _load(self) -> None:
        engine = self._make_engine()
        try:
            engine.load()
        except Exception as exc:
            if engine.name != "ct2" or self.settings.serving_engine != "auto":
                raise
            # e.g. an architecture CTranslate2 cannot convert: torch serves every model tgtwin trains
            log.warning("model service: CTranslate2 cannot serve %s (%s: %s); serving with torch",
                        self.settings.base_model, type(exc).__name__, exc)
            from model.torch_engine import TorchEngine

            engine = TorchEngine(self.settings.base_model, self.settings.models_dir)
            engine.load()
        self._engine = engine
        self._base_format = PromptFormat.for_tokenizer(engine.tokenizer)
        self._format = self._base_format
        if self._requested_adapter is not None:
            try:
                check_adapter(self._requested_adapter, self.settings.base_model)
                engine.prepare(self._requested_adapter)  # nothing is served yet: build here
                self._activate(self._requested_adapter)
            except Exception as exc:  # serve the base model rather than nothing
                self._adapter_error = f"{type(exc).__name__}: {exc}"
                log.error("model service: adapter %s not loaded, serving the base model: %s",
                          self._requested_adapter, self._adapter_error)
        log.info("model service ready: %s%s on %s (%s, %s)", self.settings.base_model,
                 f" + {self._adapter.path}" if self._adapter else "", engine.device, engine.name, engine.dtype)

    def _make_engine(self) -> Engine:
        from model.ct2_export import ct2_available, serving_engine

        choice = serving_engine(self.settings.serving_engine)
        if choice == "ct2":
            if not ct2_available():
                raise ModelServiceError("TGTWIN_SERVING_ENGINE=ct2, but ctranslate2 is not installed")
            from model.ct2_engine import Ct2Engine

            return Ct2Engine(self.settings.base_model, self.settings.models_dir)
        from model.torch_engine import TorchEngine

        return TorchEngine(self.settings.base_model, self.settings.models_dir)

    def _activate(self, adapter_dir: str | None) -> None:
        """Load (or drop) an adapter on the worker thread; the old one stays until the new one is in."""
        assert self._engine is not None and self._base_format is not None  # loaded before any adapter
        if adapter_dir is None:
            self._engine.activate(None)
            self._adapter, self._format, self._adapter_error = None, self._base_format, None
            log.info("model service: serving the base model")
            return
        info = read_adapter_info(adapter_dir)
        base_format = self._base_format
        fmt = serving_format(adapter_dir, lambda: base_format)
        try:
            self._engine.activate(adapter_dir)
        except Exception as exc:
            raise AdapterError(f"cannot load adapter {adapter_dir}: {exc}") from exc
        self._adapter, self._format, self._adapter_error = info, fmt, None
        log.info("model service: serving adapter %s", Path(adapter_dir).name)

    def _generate(self, dialogue: Dialogue, gen: GenerationSettings, n: int,
                  cancelled: threading.Event) -> ChosenReplies:
        assert self._format is not None and self._engine is not None
        self._engine.use_threads(serving_threads(self._training))
        started = time.perf_counter()
        replies = choose(self._engine, self._format, dialogue, gen, self.settings.reply_candidates, n,
                         should_stop=cancelled.is_set)
        self._last_latency_s = round(time.perf_counter() - started, 3)
        if cancelled.is_set():
            raise GenerationTimeout("stopped after the timeout")
        return replies


def _consume(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
