"""CTranslate2 int8 exports of the served model, for fast CPU serving (`model/ct2_engine.py`).

CTranslate2 runs a converted checkpoint, not a base model with a LoRA adapter on top, so an adapter
is first merged into an fp32 copy of the base weights (never the 4-bit training copy) and the
merged model is converted with int8 weights. Exports are made off the serving path: by the
training run at promotion (the export then travels inside the adapter directory, `ct2-int8/`, and
appears with it atomically), or on a helper thread when the service is asked to serve an adapter
that has none (older adapters, a failed export). The bare base model's export is cached once
under the models dir. Every export is built once across processes (`model.sources.build_once`), in a
temporary directory renamed into place, so a crash or a concurrent export never leaves a
half-written model, and a half-built one is rebuilt, never served.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import re
import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

EXPORT_DIR = "ct2-int8"
MARKER_FILE = "tgtwin_ct2.json"
EXPORT_FILES = ("config.json", "model.bin")  # what a finished export holds besides its marker
# Bump when the export recipe changes: older exports are then rebuilt.
RECIPE_VERSION = 1

EngineName = Literal["torch", "ct2"]


class ExportError(RuntimeError):
    """The model could not be converted for CTranslate2 (unsupported architecture, bad adapter)."""


def ct2_available() -> bool:
    """Whether `ctranslate2` is installed (found without importing it)."""
    return importlib.util.find_spec("ctranslate2") is not None


def serving_engine(choice: str) -> EngineName:
    """The engine `TGTWIN_SERVING_ENGINE` means here: `auto` is CTranslate2 on a CPU-only machine
    where it is installed (int8 decodes ~2.5x faster than torch there, bench/generate_bench.py),
    torch otherwise (CUDA serving, and the QLoRA path, stay on torch)."""
    if choice in ("torch", "ct2"):
        return choice  # type: ignore[return-value]
    if choice != "auto":
        raise ValueError(f"unknown serving engine {choice!r} (auto, torch or ct2)")
    if not ct2_available():
        return "torch"
    import torch

    return "torch" if torch.cuda.is_available() else "ct2"


def export_path(base_model: str, models_dir: Path, adapter_dir: str | Path | None) -> Path:
    """Where the export of `adapter_dir` on `base_model` (None: the bare base) lives."""
    if adapter_dir is not None:
        return Path(adapter_dir) / EXPORT_DIR
    readable = re.sub(r"[^A-Za-z0-9._-]+", "-", base_model).strip("-.")[:60] or "model"
    digest = hashlib.sha256(base_model.encode("utf-8")).hexdigest()[:10]
    return models_dir / "ct2" / f"{readable}-{digest}-int8"


def ensure_export(base_model: str, models_dir: Path, adapter_dir: str | Path | None = None) -> Path:
    """The int8 export of `adapter_dir` merged into `base_model` (None: the bare base), built once."""
    from model.sources import build_once

    what = f"the CTranslate2 export of {base_model}" + ("" if adapter_dir is None else f" + {Path(adapter_dir).name}")

    def build(out: Path) -> None:
        started = time.perf_counter()
        _convert(base_model, models_dir, adapter_dir, out)
        log.info("%s built in %.1fs", what, time.perf_counter() - started)

    marker = {"base_model": base_model, "recipe": RECIPE_VERSION}
    return build_once(export_path(base_model, models_dir, adapter_dir), MARKER_FILE, marker, build, what, EXPORT_FILES)


def prune_exports(adapter_dirs: Iterable[str | Path]) -> int:
    """Remove the exports of these adapters (each is a full model: 130 MB for the default one);
    serving one of them again rebuilds its export beside serving. Returns how many were removed."""
    removed = 0
    for adapter_dir in adapter_dirs:
        target = Path(adapter_dir) / EXPORT_DIR
        if target.is_dir():
            shutil.rmtree(target, ignore_errors=True)
            removed += 1
    return removed


def _convert(base_model: str, models_dir: Path, adapter_dir: str | Path | None, out: Path) -> None:
    from ctranslate2.converters import TransformersConverter

    from model.sources import resolve_base_dir

    merged = out.with_name(out.name + ".merged")
    try:
        source = resolve_base_dir(base_model, models_dir)
        if adapter_dir is not None:
            source = _merge(source, Path(adapter_dir), merged)
        TransformersConverter(str(source), low_cpu_mem_usage=True).convert(str(out), quantization="int8", force=True)
    except (NotImplementedError, ValueError, KeyError) as exc:  # the converter's "not supported" errors
        raise ExportError(f"CTranslate2 cannot convert {base_model}: {exc}") from exc
    finally:
        shutil.rmtree(merged, ignore_errors=True)
    _fill_special_tokens(out / "config.json")


def _merge(base_dir: Path, adapter_dir: Path, out: Path) -> Path:
    """The base weights with the LoRA adapter folded in, saved as a plain checkpoint."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from model.sources import load_tokenizer, save_checkpoint

    model = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32)
    try:
        merged = PeftModel.from_pretrained(model, str(adapter_dir), is_trainable=False).merge_and_unload()
    except Exception as exc:
        raise ExportError(f"cannot merge adapter {adapter_dir.name}: {exc}") from exc
    save_checkpoint(merged, load_tokenizer(base_dir), out)
    return out


def _fill_special_tokens(config_path: Path) -> None:
    """CTranslate2 refuses a config whose BOS token is null (tokenizers without one, like `tiny`'s);
    generation never relies on it (prompts carry their own tokens), so EOS stands in."""
    config = json.loads(config_path.read_text(encoding="utf-8"))
    if config.get("bos_token") is None:
        config["bos_token"] = config.get("eos_token")
        config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")
