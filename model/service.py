"""The in-process model service (`TGTWIN_MODEL_BACKEND=local`): implements `services.ReplyModel`.

One worker thread owns the model. Everything that touches it — loading the base and the promoted
adapter, generating, swapping adapters — is a job on that thread, in arrival order, so a swap
happens strictly between two requests and no request ever sees a half-swapped model. The event
loop only waits on futures. Waiting requests are bounded (`ModelBusy` past the limit), and each
request gives up after `generation_timeout_s` (`GenerationTimeout`); a timed-out generation is
told to stop at its next token, a timed-out queued one never starts.
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
from typing import Any, Literal, TypeVar

from model.adapter_format import serving_format
from model.candidates import choose_replies
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


def serving_threads(training: bool, cpus: int | None = None, load: float | None = None) -> int:
    """Torch threads for serving on CPU (one pool per process: the training worker has its own).

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
        self._base: Any = None
        self._peft: Any = None
        self._tokenizer: Any = None
        self._format: PromptFormat | None = None
        self._base_format: PromptFormat | None = None
        self._adapter: AdapterInfo | None = None
        self._adapter_name: str | None = None
        self._adapter_count = 0
        self._device = "cpu"
        self._dtype = ""
        self._last_latency_s: float | None = None
        self._torch_threads_before: int | None = None
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
        if self._torch_threads_before is not None:
            import torch

            torch.set_num_threads(self._torch_threads_before)
            self._torch_threads_before = None

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
        return (await self.candidates(dialogue, 1))[0]

    async def candidates(self, dialogue: Dialogue, n: int) -> list[list[str]]:
        if n < 1:
            raise ValueError("n must be at least 1")
        gen = GenerationSettings.from_settings(self.settings)
        return await self._run(lambda cancelled: self._generate(dialogue, gen, n, cancelled))

    async def swap_adapter(self, adapter_dir: str | None) -> None:
        """Serve `adapter_dir` (None = the bare base model) from the next request on. An adapter
        trained on another base, or one that fails to load, is refused and the old one stays."""
        if adapter_dir is not None:
            info = read_adapter_info(adapter_dir)
            self._check_base(info)
        await self.wait_ready(self.settings.generation_timeout_s)
        assert self._executor is not None
        future = asyncio.get_running_loop().run_in_executor(self._executor, self._activate, adapter_dir)
        await future  # not timed out: a half-finished swap must not be abandoned

    async def set_training_active(self, active: bool) -> None:
        """A training run started (True) or ended (False): serving takes fewer or all cores from its
        next request on (`serving_threads`). Wired as the training controller's `on_training`."""
        self._training = active

    def status(self) -> ModelStatus:
        adapter = self._adapter
        return ModelStatus(
            backend="local", state=self._state, base_model=self.settings.base_model,
            adapter_id=Path(adapter.path).name if adapter else None,
            adapter_path=adapter.path if adapter else None,
            adapter_preset=adapter.preset if adapter else None,
            adapter_error=self._adapter_error, error=self._error,
            device=self._device, dtype=self._dtype or None,
            prompt_style=self._format.style if self._format else None,
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
        import torch

        from model.sources import load_base

        if not torch.cuda.is_available():
            self._torch_threads_before = torch.get_num_threads()
            self._set_threads()  # process-wide; restored by aclose()

        model, tokenizer = load_base(self.settings.base_model, self.settings.models_dir)
        self._base, self._tokenizer = model, tokenizer
        self._base_format = PromptFormat.for_tokenizer(tokenizer)
        self._format = self._base_format
        parameter = next(model.parameters())
        self._device, self._dtype = str(parameter.device), str(parameter.dtype).replace("torch.", "")
        if self._requested_adapter is not None:
            try:
                info = read_adapter_info(self._requested_adapter)
                self._check_base(info)
                self._activate(self._requested_adapter)
            except Exception as exc:  # serve the base model rather than nothing
                self._adapter_error = f"{type(exc).__name__}: {exc}"
                log.error("model service: adapter %s not loaded, serving the base model: %s",
                          self._requested_adapter, self._adapter_error)
        log.info("model service ready: %s%s on %s (%s)", self.settings.base_model,
                 f" + {self._adapter.path}" if self._adapter else "", self._device, self._dtype)

    def _set_threads(self) -> None:
        import torch

        wanted = serving_threads(self._training)
        if torch.get_num_threads() != wanted:
            torch.set_num_threads(wanted)
            log.debug("model service: %s torch thread(s) (training %s)", wanted, "running" if self._training else "idle")

    def _check_base(self, info: AdapterInfo) -> None:
        if info.base_model is not None and info.base_model != self.settings.base_model:
            raise AdapterError(
                f"adapter {Path(info.path).name} was trained on {info.base_model}, "
                f"but the base model here is {self.settings.base_model}"
            )

    def _activate(self, adapter_dir: str | None) -> None:
        """Load (or drop) an adapter on the worker thread; the old one stays until the new one is in."""
        if adapter_dir is None:
            if self._peft is not None:
                self._base = self._peft.unload()  # LoRA layers out, the original modules back
                self._peft = None
            self._adapter, self._adapter_name, self._format = None, None, self._base_format
            self._adapter_error = None
            log.info("model service: serving the base model")
            return
        from peft import PeftModel

        info = read_adapter_info(adapter_dir)
        base_format = self._base_format
        assert base_format is not None  # loaded before any adapter
        fmt = serving_format(adapter_dir, lambda: base_format)
        self._adapter_count += 1
        name = f"adapter{self._adapter_count}"
        try:
            if self._peft is None:
                self._peft = PeftModel.from_pretrained(self._base, adapter_dir, adapter_name=name, is_trainable=False)
            else:
                self._peft.load_adapter(adapter_dir, adapter_name=name, is_trainable=False)
        except Exception as exc:
            if self._peft is not None and name in self._peft.peft_config:
                self._peft.delete_adapter(name)
            raise AdapterError(f"cannot load adapter {adapter_dir}: {exc}") from exc
        self._peft.set_adapter(name)
        self._peft.eval()
        old = self._adapter_name
        if old is not None and old in self._peft.peft_config:
            self._peft.delete_adapter(old)
        self._adapter, self._adapter_name, self._format = info, name, fmt
        self._adapter_error = None
        log.info("model service: serving adapter %s", Path(adapter_dir).name)

    def _generate(self, dialogue: Dialogue, gen: GenerationSettings, n: int,
                  cancelled: threading.Event) -> list[list[str]]:
        assert self._format is not None
        if self._torch_threads_before is not None:  # CPU serving
            self._set_threads()
        started = time.perf_counter()
        model = self._peft if self._peft is not None else self._base
        replies = choose_replies(model, self._tokenizer, self._format, dialogue, gen,
                                 self.settings.reply_candidates, n, should_stop=cancelled.is_set)
        self._last_latency_s = round(time.perf_counter() - started, 3)
        if cancelled.is_set():
            raise GenerationTimeout("stopped after the timeout")
        return replies


def _consume(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
