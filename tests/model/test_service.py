"""The model service on the tiny model, on both engines: lifecycle, concurrency, busy/timeout errors,
adapter swaps."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import model.service as service_module
from model.candidates import ChosenReplies
from model.dialogue import Dialogue, Turn
from model.prompt import PromptFormat
from model.service import (
    AdapterError,
    GenerationTimeout,
    ModelBusy,
    ModelNotReady,
    ModelService,
)
from settings import Settings

DIALOGUE = Dialogue((Turn("partner", ("hi",), "Anna"),), partner_name="Anna")


def make_adapter(models_dir: Path, out: Path, base_model: str = "tiny", seed: int = 0) -> Path:
    """A random LoRA adapter for tiny in the directory shape training writes."""
    import torch
    from peft import LoraConfig, get_peft_model

    from model.sources import load_base

    model, tokenizer = load_base("tiny", models_dir, for_training=True)
    torch.manual_seed(seed)
    peft = get_peft_model(model, LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"],
                                            init_lora_weights=False))
    peft.save_pretrained(str(out))
    PromptFormat.for_tokenizer(tokenizer).save(out)
    (out / "meta.json").write_text(json.dumps({"base_model": base_model, "preset": "test"}))
    return out


@pytest.fixture(params=["torch", "ct2"])
def fast(model_settings: Settings, request: pytest.FixtureRequest) -> Settings:
    return model_settings.model_copy(update={"max_new_tokens": 4, "generation_timeout_s": 30.0,
                                             "serving_engine": request.param})


async def test_loads_in_the_background_then_replies(fast: Settings) -> None:
    async with ModelService(fast) as service:
        assert service.status().state in ("loading", "ready")
        reply = await service.reply(DIALOGUE)
        status = service.status()
    assert isinstance(reply, list) and all(isinstance(m, str) for m in reply)
    assert status.state == "ready" and status.backend == "local" and status.adapter_path is None
    assert status.base_model == "tiny" and status.device == "cpu" and status.dtype
    assert status.engine == fast.serving_engine and (status.dtype == "int8") == (fast.serving_engine == "ct2")
    assert service.status().state == "stopped"


async def test_concurrent_requests_run_one_at_a_time_off_the_loop(fast: Settings,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[str] = []
    active = {"now": 0, "max": 0}
    real = service_module.choose

    def tracked(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        active["now"] += 1
        active["max"] = max(active["max"], active["now"])
        try:
            return real(*args, **kwargs)
        finally:
            active["now"] -= 1

    monkeypatch.setattr(service_module, "choose", tracked)
    async with ModelService(fast) as service:
        results = await asyncio.gather(*(service.reply(DIALOGUE) for _ in range(4)), service.candidates(DIALOGUE, 3))
    assert len(results) == 5 and 1 <= len(results[-1].replies) <= 3  # filtered candidates: up to n
    assert active["max"] == 1 and len(set(threads)) == 1
    assert threads[0].startswith("tgtwin-model") and threads[0] != threading.current_thread().name


async def test_busy_and_timeout(fast: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    def slow(*args: Any, should_stop: Any = None, **kwargs: Any) -> ChosenReplies:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not should_stop():
            time.sleep(0.01)
        return ChosenReplies([["late"]])

    settings = fast.model_copy(update={"generation_timeout_s": 2.0})
    async with ModelService(settings, max_waiting=2) as service:
        await service.wait_ready(30)
        monkeypatch.setattr(service_module, "choose", slow)
        first = asyncio.ensure_future(service.reply(DIALOGUE))
        second = asyncio.ensure_future(service.reply(DIALOGUE))
        await asyncio.sleep(0.05)
        with pytest.raises(ModelBusy):
            await service.reply(DIALOGUE)
        for task in (first, second):
            with pytest.raises(GenerationTimeout):
                await task
        monkeypatch.undo()
        assert isinstance(await service.reply(DIALOGUE), list)  # the worker is free again


async def test_a_failed_load_is_reported(fast: Settings) -> None:
    broken = fast.model_copy(update={"base_model": "bundled:nope"})
    async with ModelService(broken) as service:
        with pytest.raises(ModelNotReady, match="failed to load"):
            await service.reply(DIALOGUE)
        status = service.status()
    assert status.state == "error" and "nope" in status.error


async def test_swap_while_serving_and_refuse_other_bases(fast: Settings, session_models_dir: Path,
                                                         tmp_path: Path) -> None:
    first = make_adapter(session_models_dir, tmp_path / "a1", seed=1)
    second = make_adapter(session_models_dir, tmp_path / "a2", seed=2)
    foreign = make_adapter(session_models_dir, tmp_path / "a3", base_model="bundled:smollm2-135m")
    async with ModelService(fast, adapter_dir=str(first)) as service:
        await service.wait_ready(30)
        assert service.status().adapter_path == str(first)
        pending = [asyncio.ensure_future(service.reply(DIALOGUE)) for _ in range(3)]
        await service.swap_adapter(str(second))
        assert all(isinstance(r, list) for r in await asyncio.gather(*pending))
        assert service.status().adapter_path == str(second)
        with pytest.raises(AdapterError, match="trained on bundled:smollm2-135m"):
            await service.swap_adapter(str(foreign))
        with pytest.raises(AdapterError, match="does not exist"):
            await service.swap_adapter(str(tmp_path / "missing"))
        assert service.status().adapter_path == str(second)
        assert isinstance(await service.reply(DIALOGUE), list)
        await service.swap_adapter(None)
        assert service.status().adapter_path is None
        assert isinstance(await service.reply(DIALOGUE), list)
        await service.swap_adapter(str(first))
        assert service.status().adapter_id == "a1"


async def test_an_unusable_startup_adapter_falls_back_to_the_base(fast: Settings, session_models_dir: Path,
                                                                   tmp_path: Path) -> None:
    foreign = make_adapter(session_models_dir, tmp_path / "foreign", base_model="other")
    async with ModelService(fast, adapter_dir=str(foreign)) as service:
        assert isinstance(await service.reply(DIALOGUE), list)
        status = service.status()
    assert status.state == "ready" and status.adapter_path is None and "other" in status.adapter_error


def test_serving_takes_every_core_only_when_nothing_trains_and_the_machine_is_free() -> None:
    from model.service import serving_threads
    from model.sources import inference_threads

    assert serving_threads(training=False, cpus=8, load=0.5) == 8
    assert serving_threads(training=True, cpus=8, load=0.5) == inference_threads()
    assert serving_threads(training=False, cpus=8, load=7.5) == inference_threads()  # other work holds the cores


async def test_a_training_run_changes_the_serving_threads_from_the_next_request(
    fast: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import model.sources

    monkeypatch.setattr(service_module, "serving_threads", lambda training: 1 if training else 2)
    monkeypatch.setattr(model.sources, "inference_threads", lambda: 4)  # ct2's cap, above both
    real_choose = service_module.choose
    seen: list[int] = []

    def choose(engine: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(engine.threads)  # on the model's thread, where the generation runs
        return real_choose(engine, *args, **kwargs)

    monkeypatch.setattr(service_module, "choose", choose)
    async with ModelService(fast) as service:
        await service.reply(DIALOGUE)
        await service.set_training_active(True)
        await service.reply(DIALOGUE)
        await service.set_training_active(False)
        await service.reply(DIALOGUE)
    assert seen == [2, 1, 2]


async def test_auto_falls_back_to_torch_when_ctranslate2_cannot_serve_the_model(
    model_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import model.ct2_engine
    from model.ct2_export import ExportError

    def unsupported(*args: Any, **kwargs: Any) -> Path:
        raise ExportError("CTranslate2 cannot convert tiny: no conversion is registered")

    monkeypatch.setattr(model.ct2_engine, "ensure_export", unsupported)
    settings = model_settings.model_copy(update={"max_new_tokens": 4, "serving_engine": "auto"})
    async with ModelService(settings) as service:
        assert isinstance(await service.reply(DIALOGUE), list)
        assert service.status().engine == "torch" and service.status().state == "ready"
    explicit = settings.model_copy(update={"serving_engine": "ct2"})
    async with ModelService(explicit) as service:
        with pytest.raises(ModelNotReady, match="cannot convert"):
            await service.reply(DIALOGUE)


async def test_a_promotion_made_by_the_cli_reaches_a_running_service(
    model_settings: Settings, session_models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`tgtwin promote`/`rollback` in another process: the running server swaps within seconds."""
    from typer.testing import CliRunner

    from cli.app import app
    from storage import Database
    from storage import training as training_queries
    from training.runs.promotion import PromotionWatcher

    monkeypatch.setenv("TGTWIN_BASE_MODEL", "tiny")  # the CLI's own settings
    settings = model_settings.model_copy(update={"max_new_tokens": 4, "serving_engine": "torch"})
    adapter = make_adapter(session_models_dir, settings.adapters_dir / "a1", seed=1)

    async def cli(*args: str) -> None:
        result = await asyncio.to_thread(CliRunner().invoke, app, ["--data-dir", str(settings.data_dir), *args])
        assert result.exit_code == 0, result.output

    async def served(path: str | None) -> None:
        deadline = time.monotonic() + 60
        while service.status().adapter_path != path:
            assert time.monotonic() < deadline, f"the service still serves {service.status().adapter_path}"
            await asyncio.sleep(0.1)

    async with Database.open(settings.db_path) as db:
        await training_queries.add_adapter(db, "a1", str(adapter), "tiny", None)
        async with ModelService(settings) as service, PromotionWatcher(db, service):
            await service.wait_ready(60)
            await cli("promote", "a1")
            await served(str(adapter))
            assert isinstance(await service.reply(DIALOGUE), list)
            await cli("rollback")
            await served(None)
