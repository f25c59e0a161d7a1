"""Training throughput and padding waste: packed padding-free batches (the preset) vs a plain padded
baseline (random order, each batch padded to its longest example) vs length-grouped padded batches,
same examples, one epoch each.

    python -m bench.train_bench [--preset smollm2-cpu] [--examples 64] [--data-dir DIR]

Reads the training examples from the database in the data dir; with none there, imports the bundled
sample into a temporary database first. Prints only what it measured.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path
from typing import Any


async def _examples(settings: Any) -> list[Any]:
    from storage import Database
    from storage import messages as message_queries
    from training.dataset import load_dataset

    async with Database.open(settings.db_path) as db:
        if (await message_queries.counts(db)).messages == 0:
            from main import SAMPLE_EXPORT
            from telegram_export import import_export

            await import_export(db, SAMPLE_EXPORT)
        return (await load_dataset(db, settings)).train


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.train_bench")
    parser.add_argument("--preset", default="smollm2-cpu")
    parser.add_argument("--examples", type=int, default=24, help="Training examples per variant (one epoch).")
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args(argv)

    from model.prompt import PromptFormat
    from model.sources import load_base
    from settings import load_settings
    from training.config import load_preset
    from training.evaluate import encode_examples
    from training.run import fit

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(data_dir=args.data_dir or Path(tmp) / "data")
        config = load_preset(args.preset).with_overrides(epochs=1.0, max_steps=-1, save_steps=10**6, logging_steps=10**6)
        base = config.base_model or settings.base_model
        examples = asyncio.run(_examples(settings))[: args.examples]
        print(f"preset {config.name}, base {base}, {len(examples)} examples, max_length {config.max_length}, "
              f"batch {config.batch_size}")
        results = {}
        variants = (
            ("preset", config.packing, not config.packing),
            ("packed padding-free", True, False),
            ("padded baseline", False, False),
        )
        for label, packing, grouped in variants:
            name = f"{label} ({'packed' if packing else 'length-grouped'})" if label == "preset" else label
            model, tokenizer = load_base(base, settings.models_dir, quantization=config.quantization, for_training=True)
            rows = encode_examples(tokenizer, PromptFormat.for_tokenizer(tokenizer), examples, config.max_length)
            _, result = fit(model, tokenizer, rows, config, Path(tmp) / label.split()[0], packing=packing, group_by_length=grouped)
            results[label] = result
            print(f"{name:26s}: {result.steps} steps, {result.seconds:.1f}s, real tokens {result.real_tokens}, "
                  f"positions {result.total_positions}, real-token share {result.real_token_share:.1%}, "
                  f"{result.tokens_per_second:.0f} real tokens/s")
        baseline = results["padded baseline"].tokens_per_second
        if baseline:
            for label in ("preset", "packed padding-free"):
                print(f"speed vs padded baseline, {label}: {results[label].tokens_per_second / baseline:.2f}x")


if __name__ == "__main__":
    main()
