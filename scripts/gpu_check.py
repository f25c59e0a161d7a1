"""The CUDA QLoRA check that scripts/gpu_check.sh runs in its CUDA venv (see there).

    python scripts/gpu_check.py [--steps 40] [--dry-run]

Imports the bundled sample chats into a temporary data dir, trains the bundled SmolLM2-135M with
4-bit NF4 QLoRA (bf16 compute) through the one training entry point, evaluates it, serves one reply
from the new adapter through the model service, and prints the figures: steps/s, peak GPU memory,
held-out perplexity base → new, the reply latency. Exit code 1 if any step fails.

`--dry-run` is the CPU path that checks this script itself (no GPU needed): the `tiny` model,
full precision, a few steps, and the same import / train / evaluate / serve sequence.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_EXPORT = REPO_ROOT / "samples" / "sample_export.json"
BUNDLED = "bundled:smollm2-135m"


async def check(data_dir: Path, steps: int, dry_run: bool, models_dir: Path | None) -> dict[str, object]:
    import torch

    from model.dialogue import Dialogue, Turn
    from model.service import ModelService
    from settings import load_settings
    from storage import Database
    from telegram_export import import_export
    from training.runs.run import run_training

    cuda = torch.cuda.is_available()
    if not cuda and not dry_run:
        raise SystemExit(f"gpu_check: torch sees no CUDA device (torch {torch.__version__}); "
                         "use --dry-run for the CPU path")
    base = "tiny" if dry_run else BUNDLED
    settings = load_settings(data_dir=data_dir, base_model=base, demo=False)
    if models_dir is not None:
        settings.models_dir.parent.mkdir(parents=True, exist_ok=True)
        settings.models_dir.symlink_to(models_dir.resolve())
    async with Database.open(settings.db_path) as db:
        imported = await import_export(db, SAMPLE_EXPORT)
    print(f"imported the bundled sample: {imported}", flush=True)

    overrides: dict[str, object] = {"max_steps": steps, "quantization": "none" if dry_run else "4bit",
                                    "bf16": not dry_run, "base_model": base}
    if dry_run:
        overrides.update(eval_max_examples=8, eval_generate=2, eval_samples=1, eval_max_new_tokens=8)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    result = await run_training(settings, preset="smollm2-cpu", trigger="gpu-check", overrides=overrides)
    train_wall = time.perf_counter() - started
    peak_gib = torch.cuda.max_memory_allocated() / 2**30 if cuda else None
    fit, ppl = result.report.fit, result.report.evaluation.perplexity
    steps, fit_seconds = (fit.steps, fit.seconds) if fit else (0, 0.0)

    dialogue = Dialogue((Turn("partner", ("hey, are you free tonight?",), "Anna"),), "Anna", "friend")
    async with ModelService(settings, adapter_dir=str(result.adapter_dir)) as service:
        await service.wait_ready(300)
        started = time.perf_counter()
        reply = await service.reply(dialogue)
        reply_s = time.perf_counter() - started
        status = service.status()
    if status.adapter_path != str(result.adapter_dir):
        raise SystemExit(f"gpu_check: the adapter was not served ({status.adapter_error})")
    return {
        "device": torch.cuda.get_device_name(0) if cuda else "cpu (dry run)",
        "torch": torch.__version__, "base": base, "quantization": overrides["quantization"],
        "steps": steps, "steps_per_s": round(steps / fit_seconds, 3) if fit_seconds else None,
        "train_tokens_per_s": fit.tokens_per_second if fit else None, "run_wall_s": round(train_wall, 1),
        "peak_gpu_memory_gib": round(peak_gib, 2) if peak_gib is not None else None,
        "perplexity_base": ppl.base, "perplexity_new": ppl.new,
        "promoted": result.promoted, "served_on": status.device, "reply_s": round(reply_s, 2),
        "reply_messages": len(reply),
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python scripts/gpu_check.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--dry-run", action="store_true", help="CPU, the tiny model: checks this script only")
    parser.add_argument("--models-dir", type=Path, default=None, help="an existing models dir (skips the conversion)")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO_ROOT))
    with tempfile.TemporaryDirectory(prefix="tgtwin-gpucheck-") as tmp:
        figures = asyncio.run(check(Path(tmp) / "data", args.steps, args.dry_run, args.models_dir))
    print(f"perplexity {figures['perplexity_base']} -> {figures['perplexity_new']}, {figures['steps_per_s']} steps/s, "
          f"peak GPU memory {figures['peak_gpu_memory_gib']} GiB, reply {figures['reply_s']} s")
    print("GPU_CHECK " + json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
