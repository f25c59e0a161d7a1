"""Message rhythm: how often the owner sends several messages in a turn, vs the twin's replies.

    python -m bench.rhythm_bench [--data-dir DIR] [--adapter DIR] [--contexts 64] [--json]

Reads the held-out owner turns of the data dir's dataset (imports the bundled sample into a temporary
data dir when there is none), answers up to `--contexts` of their contexts through the live path
(`model.service.ModelService.reply`: prompt format, sampling, stop rules, `split_reply`) with the
given adapter (default: the promoted one; `--base` for none) and prints the multi-message share of
the real and of the generated turns, and their relative difference. Prints the load average: the
machine may be shared. Prints only what it measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any


def multi_share(turns: list[list[str]]) -> float:
    """Share of turns with two or more messages."""
    return sum(len(t) >= 2 for t in turns) / len(turns) if turns else 0.0


async def measure(data_dir: Path, adapter: str | None, use_base: bool, contexts: int) -> dict[str, Any]:
    from model.service import ModelService
    from settings import load_settings
    from storage import Database
    from storage import messages as message_queries
    from storage import training as training_queries
    from training.data.dataset import load_dataset

    settings = load_settings(data_dir=data_dir)
    async with Database.open(settings.db_path) as db:
        if (await message_queries.counts(db)).messages == 0:
            from samples import SAMPLE_EXPORT
            from telegram_export import import_export

            await import_export(db, SAMPLE_EXPORT)
        built = await load_dataset(db, settings)
        if adapter is None and not use_base:
            promoted = await training_queries.promoted_adapter(db)
            adapter = promoted.path if promoted else None
    heldout = sorted((e for e in built.heldout if e.dialogue.turns), key=lambda e: e.date)[-contexts:]
    real = [list(e.reply.messages) for e in heldout]
    generated: list[list[str]] = []
    started = time.perf_counter()
    async with ModelService(settings, adapter) as service:
        await service.wait_ready()
        for example in heldout:
            generated.append(await service.reply(example.dialogue))
    seconds = time.perf_counter() - started
    real_share, gen_share = multi_share(real), multi_share(generated)
    return {
        "adapter": adapter, "contexts": len(heldout), "real_multi_message_share": round(real_share, 4),
        "generated_multi_message_share": round(gen_share, 4),
        "relative_difference": round(abs(gen_share - real_share) / real_share, 4) if real_share else None,
        "empty_replies": sum(not g for g in generated), "seconds": round(seconds, 1),
        "load_average": round(os.getloadavg()[0], 2),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.rhythm_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--adapter", default=None, help="Adapter directory (default: the promoted one).")
    parser.add_argument("--base", action="store_true", help="Generate with the base model (no adapter).")
    parser.add_argument("--contexts", type=int, default=64)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(measure(args.data_dir or Path(tmp) / "data", args.adapter, args.base, args.contexts))
    if args.json:
        print(json.dumps(result))
        return
    print(f"{result['contexts']} held-out contexts, adapter {result['adapter'] or 'none (base)'}, "
          f"{result['seconds']}s, load average {result['load_average']}")
    print(f"multi-message share: real {result['real_multi_message_share']:.1%}, "
          f"generated {result['generated_multi_message_share']:.1%}, relative difference "
          f"{result['relative_difference'] if result['relative_difference'] is not None else '—'}; "
          f"empty replies {result['empty_replies']}")


if __name__ == "__main__":
    main()
