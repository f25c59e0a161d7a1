"""Does a sampling setting change the twin's voice? The live path, the same held-out contexts, one
setting after the other.

    python -m bench.sampling_bench [--data-dir DIR] [--adapter DIR] [--top-k 0,50] [--contexts 64]

For each `--top-k` value, answers the last `--contexts` held-out contexts of the data dir's dataset
(the bundled sample is imported into a temporary data dir when there is none) through
`model.service.ModelService.reply` with the promoted adapter (or `--adapter`), on the engine
`TGTWIN_SERVING_ENGINE` picks, and prints what the run's evaluation judges: blind judge accuracy
(0.5 = indistinguishable), style distance, invented-word share, multi-message share, and the reply
p50. The judge on a few dozen replies is noisy (±0.05 or so between runs): compare large gaps only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any


async def _contexts(data_dir: Path, contexts: int) -> tuple[Any, list[Any], Any, str | None]:
    from bench.voice_bench import _ensure_sample
    from settings import load_settings
    from storage import Database
    from storage import training as training_queries
    from training.data.dataset import load_dataset
    from training.evaluation.evaluate import lexicon_for

    settings = load_settings(data_dir=data_dir)
    await _ensure_sample(settings)
    async with Database.open(settings.db_path) as db:
        built = await load_dataset(db, settings)
        promoted = await training_queries.promoted_adapter(db)
    heldout = sorted((e for e in built.heldout if e.dialogue.turns), key=lambda e: e.date)[-contexts:]
    return settings, heldout, lexicon_for(built.train), promoted.path if promoted else None


async def _answer(settings: Any, adapter: str | None, heldout: list[Any]) -> tuple[list[list[str]], list[float], str]:
    from model.service import ModelService

    replies, seconds = [], []
    async with ModelService(settings, adapter) as service:
        await service.wait_ready()
        for example in heldout:
            started = time.perf_counter()
            replies.append(await service.reply(example.dialogue))
            seconds.append(time.perf_counter() - started)
        engine = service.status().engine or "?"
    return replies, seconds, engine


def measure(data_dir: Path, adapter: str | None, top_ks: list[int], contexts: int) -> None:
    from model.candidates import last_partner_messages, markers_for
    from model.prompt import PromptFormat
    from training.evaluation.judge import blind_judge_accuracy
    from training.evaluation.style import ReplyContext, compare_style

    settings, heldout, lexicon, promoted = asyncio.run(_contexts(data_dir, contexts))
    adapter = adapter or promoted
    fmt = PromptFormat.load(adapter) if adapter else None
    real = [list(e.reply.messages) for e in heldout]
    judged = [ReplyContext(last_partner_messages(e.dialogue), markers_for(fmt, e.dialogue) if fmt else ())
              for e in heldout]
    print(f"{len(heldout)} held-out contexts, adapter {adapter or 'none (base)'}, "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)
    print(f"{'top_k':>6} {'engine':>7} {'judge':>6} {'style dist':>10} {'invented':>9} {'multi-msg':>9} "
          f"{'(owner)':>8} {'empty':>6} {'p50':>6}")
    for top_k in top_ks:
        generated, seconds, engine = asyncio.run(_answer(settings.model_copy(update={"top_k": top_k}), adapter,
                                                         heldout))
        style = compare_style(generated, real, judged, lexicon)
        print(f"{top_k:6d} {engine:>7} {blind_judge_accuracy(real, generated) or 0:6.3f} {style.style_distance:10.3f} "
              f"{style.generated['invented_share']:9.1%} {style.generated['multi_message_share']:9.1%} "
              f"{style.real['multi_message_share']:8.1%} {sum(not g for g in generated):6d} "
              f"{statistics.median(seconds):5.2f}s", flush=True)
    print(f"load average after {os.getloadavg()[0]:.2f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sampling_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--adapter", default=None, help="Adapter directory (default: the promoted one).")
    parser.add_argument("--top-k", default="0,50", help="comma-separated top_k values (0 = no limit)")
    parser.add_argument("--contexts", type=int, default=64)
    args = parser.parse_args(argv)
    top_ks = [int(v) for v in args.top_k.split(",") if v.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        measure(args.data_dir or Path(tmp) / "data", args.adapter, top_ks, args.contexts)


if __name__ == "__main__":
    main()
