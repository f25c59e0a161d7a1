"""Loading each base-model source offline: tiny (built here), a local directory, the bundled GGUF;
caches built once, and a half-built cache rebuilt, never taken."""

from __future__ import annotations

import json
import logging
import shutil
import threading
from pathlib import Path

import pytest

from model.quantization import QuantizationError, choose_quantization
from model.sources import (
    CHECKPOINT_FILES,
    SOURCE_FILE,
    IncompleteBuildError,
    ModelSourceError,
    build_once,
    bundled_gguf_path,
    load_base,
    resolve_base_dir,
)


def test_tiny_is_built_once_and_deterministically(tiny_dir: Path, tmp_path: Path) -> None:
    again = resolve_base_dir("tiny", tmp_path)
    for name in ("tokenizer.json", "model.safetensors", "config.json"):
        assert (again / name).read_bytes() == (tiny_dir / name).read_bytes(), name
    stamp = (again / "model.safetensors").stat().st_mtime_ns
    assert resolve_base_dir("tiny", tmp_path) == again
    assert (again / "model.safetensors").stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [".tiny.lock"]  # no temp dirs left


@pytest.mark.parametrize("broken", ["weights missing", "no marker", "tokenizer and marker only"])
def test_a_half_built_cache_is_rebuilt_not_taken(tiny_dir: Path, tmp_path: Path, broken: str) -> None:
    cache = tmp_path / "tiny"
    shutil.copytree(tiny_dir, cache)
    if broken == "weights missing":
        (cache / "model.safetensors").unlink()
    elif broken == "no marker":
        (cache / SOURCE_FILE).unlink()
    else:  # what torchrun's rank 1 used to leave: "Unrecognized model ... model_type" on every later load
        for path in cache.iterdir():
            if not path.name.startswith("tokenizer") and path.name != SOURCE_FILE:
                path.unlink()
    assert resolve_base_dir("tiny", tmp_path) == cache
    for name in (*CHECKPOINT_FILES, SOURCE_FILE):
        assert (cache / name).read_bytes() == (tiny_dir / name).read_bytes(), name
    model, _ = load_base("tiny", tmp_path)
    assert sum(p.numel() for p in model.parameters()) > 10_000


def test_a_build_that_leaves_a_required_file_out_is_refused_and_nothing_kept(tmp_path: Path) -> None:
    def config_only(out: Path) -> None:
        out.mkdir()
        (out / "config.json").write_text("{}")

    with pytest.raises(IncompleteBuildError, match="left no model.safetensors"):
        build_once(tmp_path / "cache", "marker.json", {"v": 1}, config_only, "a test cache",
                   ("config.json", "model.safetensors"))
    assert [p.name for p in tmp_path.iterdir()] == [".cache.lock"]


def test_concurrent_builders_wait_for_one_build(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The second builder finds the first one's lock held, waits, and takes its build."""
    builds: list[str] = []
    second_waits = threading.Event()

    class WaitingSeen(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("waiting for another process"):
                second_waits.set()

    def slow_build(out: Path) -> None:
        builds.append(threading.current_thread().name)
        out.mkdir()
        second_waits.wait(timeout=10)  # hold the lock until the other builder is waiting on it
        (out / "weights").write_text(str(len(builds)))

    def builder() -> None:
        results.append(build_once(tmp_path / "cache", "marker.json", {"v": 1}, slow_build, "a test cache",
                                  ("weights",)))

    results: list[Path] = []
    caplog.set_level(logging.INFO, logger="model.sources")
    handler = WaitingSeen()
    logging.getLogger("model.sources").addHandler(handler)
    try:
        threads = [threading.Thread(target=builder, name=f"builder-{i}") for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        logging.getLogger("model.sources").removeHandler(handler)
    assert second_waits.is_set() and len(builds) == 1
    assert results == [tmp_path / "cache"] * 2 and (tmp_path / "cache" / "weights").read_text() == "1"


def test_tiny_model_is_tiny_and_has_no_chat_template(tiny_model: tuple) -> None:
    model, tokenizer = tiny_model
    assert 10_000 < sum(p.numel() for p in model.parameters()) < 100_000
    assert tokenizer.chat_template is None and tokenizer.eos_token and tokenizer.pad_token


def test_a_local_directory_loads_as_is(tiny_dir: Path, tmp_path: Path) -> None:
    import torch

    model, tokenizer = load_base(str(tiny_dir), tmp_path / "unused", dtype=torch.float32)
    assert model.dtype == torch.float32 and not model.training
    assert tokenizer.encode("hi") == tokenizer.encode("hi")
    assert not (tmp_path / "unused").exists()


def test_bundled_model_is_converted_to_a_plain_checkpoint(smollm_dir: Path, session_models_dir: Path) -> None:
    config = json.loads((smollm_dir / "config.json").read_text())
    assert "quantization_config" not in config  # later loads must not go back to the GGUF
    assert config["model_type"] == "llama" and config["tie_word_embeddings"] is True
    assert json.loads((smollm_dir / SOURCE_FILE).read_text())["spec"] == "bundled:smollm2-135m"
    assert bundled_gguf_path("smollm2-135m").is_file()
    model, tokenizer = load_base("bundled:smollm2-135m", session_models_dir)
    assert tokenizer.chat_template and tokenizer.eos_token == "<|im_end|>"
    assert model.get_input_embeddings().weight.data_ptr() == model.get_output_embeddings().weight.data_ptr()
    import torch

    ids = torch.tensor([tokenizer.encode("The capital of France is")])
    with torch.inference_mode():
        next_id = model(ids).logits[0, -1].argmax().item()
    assert tokenizer.decode([next_id]).strip() == "Paris"  # the weights survived the conversion


def test_unknown_sources_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(ModelSourceError, match="unknown bundled"):
        resolve_base_dir("bundled:nope", tmp_path)
    with pytest.raises(ModelSourceError, match="does not exist"):
        resolve_base_dir(str(tmp_path / "missing"), tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelSourceError, match="config.json"):
        resolve_base_dir(str(tmp_path / "empty"), tmp_path)
    with pytest.raises(ModelSourceError, match="hub"):
        resolve_base_dir("some-org/some-model", tmp_path)  # offline: no hub, no cache


def test_quantization_choice() -> None:
    assert choose_quantization("auto", cuda=False) is None
    assert choose_quantization("none", cuda=True) is None
    auto = choose_quantization("auto", cuda=True)
    assert auto.load_in_4bit and auto.bnb_4bit_quant_type == "nf4"
    assert choose_quantization("8bit", cuda=False).load_in_8bit
    with pytest.raises(QuantizationError):
        choose_quantization("2bit", cuda=False)


def test_tiny_loads_in_4bit_on_cpu_for_training(session_models_dir: Path) -> None:
    model, _ = load_base("tiny", session_models_dir, quantization="4bit", for_training=True)
    kinds = {type(m).__name__ for m in model.modules()}
    assert "Linear4bit" in kinds
