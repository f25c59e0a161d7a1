"""What a run's evaluation costs: a saved adapter evaluated as a run evaluates it, first with nothing
cached, then with only the base model's measurements cached (every run after the first).

    python -m bench.eval_bench --data-dir DIR [--adapter DIR] [--preset smollm2-cpu]

Uses the data dir's dataset and settings (serving engine, generation settings, candidates) and the
preset's evaluation settings; the adapter defaults to the promoted one. Each pass works on a fresh
copy of the adapter without its CTranslate2 export (so the export is built, as in a run) and a
fresh cache directory. Prints each pass's timing (`EvalTiming`: export, perplexity, hits@1,
generation), its share of the preset's training budget, and the load average (the machine may be
shared). Prints only what it measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any


async def _dataset(settings: Any, adapter: str | None) -> tuple[Any, str | None]:
    from storage import Database
    from storage import training as training_queries
    from training.data.dataset import load_dataset

    async with Database.open(settings.db_path) as db:
        if adapter is None:
            promoted = await training_queries.promoted_adapter(db)
            adapter = promoted.path if promoted else None
        return await load_dataset(db, settings), adapter


def _evaluate(settings: Any, config: Any, built: Any, adapter: Path, cache_dir: Path, work: Path) -> Any:
    """One evaluation of a fresh copy of `adapter` (no export) against `cache_dir`."""
    from peft import PeftModel

    from model.generation import GenerationSettings
    from model.prompt import PromptFormat
    from model.sources import load_base
    from training.evaluation.evaluate import EvalInputs, EvalSetup, evaluate_adapter, lexicon_for

    copy = work / "adapter"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(adapter, copy, ignore=shutil.ignore_patterns("ct2-int8"))
    model, tokenizer = load_base(settings.base_model, settings.models_dir, for_training=True)
    peft_model = PeftModel.from_pretrained(model, str(copy), is_trainable=True)
    generation = GenerationSettings.from_settings(settings)
    if config.eval_max_new_tokens is not None:
        generation = replace(generation, max_new_tokens=config.eval_max_new_tokens)
    inputs = EvalInputs(built.heldout, lexicon_for(built.train), [e.reply.messages for e in built.examples],
                        settings.reply_candidates)
    setup = replace(EvalSetup.from_settings(settings, settings.base_model), cache_dir=cache_dir)
    fmt = PromptFormat.load(copy)
    return evaluate_adapter(peft_model, tokenizer, fmt, inputs, config, generation, None, setup, copy)


def _base_cache_files(settings: Any, cache_dir: Path) -> list[Path]:
    """The base model's cache file(s) in `cache_dir` (whichever dtype it was measured in)."""
    from model.prompt import PromptFormat
    from model.sources import load_tokenizer, resolve_base_dir
    from training.evaluation.cache import base_fingerprint, model_key

    base_dir = resolve_base_dir(settings.base_model, settings.models_dir)
    weights, fmt = base_fingerprint(settings.base_model, base_dir), PromptFormat.for_tokenizer(load_tokenizer(base_dir))
    keys = {model_key(weights, fmt, dtype) for dtype in ("torch.float32", "torch.bfloat16")}
    return [path for path in cache_dir.glob("*.json") if path.stem in keys]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.eval_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="A data dir with a dataset and an adapter.")
    parser.add_argument("--adapter", default=None, help="Adapter directory (default: the promoted one).")
    parser.add_argument("--preset", default=None, help="Evaluation settings from this preset (default: the settings').")
    args = parser.parse_args(argv)

    from settings import load_settings
    from training.config import load_preset

    settings = load_settings(data_dir=args.data_dir)
    config = load_preset(args.preset or settings.training_preset)
    built, adapter = asyncio.run(_dataset(settings, args.adapter))
    if adapter is None:
        parser.error("no adapter: pass --adapter or promote one")
    budget = (config.time_budget_minutes or 0) * 60
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cold = _evaluate(settings, config, built, Path(adapter), work / "cold", work)
        warm_cache = work / "warm"
        warm_cache.mkdir()
        for path in _base_cache_files(settings, work / "cold"):
            shutil.copy(path, warm_cache / path.name)
        warm = _evaluate(settings, config, built, Path(adapter), warm_cache, work)
        for name, report in (("nothing cached", cold), ("base cached", warm)):
            timing = report.timing.to_json()
            share = f", {timing['total'] / budget:.0%} of the {budget / 60:.0f}-minute budget" if budget else ""
            print(f"{name}: {json.dumps(timing)}{share}; replies: {report.replies_path}; "
                  f"load average {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
