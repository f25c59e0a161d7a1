"""Training throughput and padding waste: packed padding-free batches (the preset) vs a plain padded
baseline (random order, each batch padded to its longest sequence) vs length-grouped padded batches,
same whole-conversation training sequences, one epoch each; and, with `--default-run`, the preset as
configured (epochs, time budget) on all sequences: minutes and the share of an epoch covered.

    python -m bench.train_bench [--preset smollm2-cpu] [--examples 24] [--default-run] [--data-dir DIR]

Reads the training conversations from the database in the data dir; with none there, imports the
bundled sample into a temporary database first. Prints the load average (the machine may be shared)
and only what it measured.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from pathlib import Path
from typing import Any


async def _dataset(settings: Any) -> Any:
    from storage import Database
    from storage import messages as message_queries
    from training.dataset import load_dataset

    async with Database.open(settings.db_path) as db:
        if (await message_queries.counts(db)).messages == 0:
            from samples import SAMPLE_EXPORT
            from telegram_export import import_export

            await import_export(db, SAMPLE_EXPORT)
        return await load_dataset(db, settings)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.train_bench")
    parser.add_argument("--preset", default="smollm2-cpu")
    parser.add_argument("--examples", type=int, default=24, help="Training sequences per variant (one epoch).")
    parser.add_argument("--default-run", action="store_true",
                        help="Instead: the preset as configured on all sequences (epochs covered, minutes).")
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args(argv)

    from model.prompt import PromptFormat
    from model.sources import load_base
    from settings import load_settings
    from training.config import load_preset
    from training.fit import fit
    from training.sequences import encode_conversations

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(data_dir=args.data_dir or Path(tmp) / "data")
        preset = load_preset(args.preset)
        base = preset.base_model or settings.base_model
        conversations = asyncio.run(_dataset(settings)).conversations

        def sequences(tokenizer: Any) -> list[dict[str, list[int]]]:
            fmt = PromptFormat.for_tokenizer(tokenizer)
            return encode_conversations(tokenizer, fmt, conversations, preset.max_length, settings.context_turns)[0]

        if args.default_run:
            model, tokenizer = load_base(base, settings.models_dir, quantization=preset.quantization, for_training=True)
            rows = sequences(tokenizer)
            config = preset.with_overrides(save_steps=10**6)
            _, result = fit(model, tokenizer, rows, config, Path(tmp) / "default")
            print(f"default run ({config.name}, base {base}, budget {config.time_budget_minutes} min): "
                  f"{result.steps} steps, {result.seconds / 60:.1f} minutes, {len(rows)} sequences, "
                  f"epochs covered {result.epochs_covered(len(rows)):.2f}, {result.tokens_per_second:.0f} real tokens/s, "
                  f"stopped by budget {result.stopped_by_budget}, load average {os.getloadavg()[0]:.1f}")
            return
        config = preset.with_overrides(epochs=1.0, max_steps=-1, save_steps=10**6, logging_steps=10**6, time_budget_minutes=None)
        print(f"preset {config.name}, base {base}, {args.examples} sequences, max_length {config.max_length}, "
              f"batch {config.batch_size}, load average {os.getloadavg()[0]:.1f}")
        results = {}
        variants = (
            ("preset", config.packing, not config.packing),
            ("packed padding-free", True, False),
            ("padded baseline", False, False),
        )
        for label, packing, grouped in variants:
            name = f"{label} ({'packed' if packing else 'length-grouped'})" if label == "preset" else label
            model, tokenizer = load_base(base, settings.models_dir, quantization=config.quantization, for_training=True)
            rows = sequences(tokenizer)[: args.examples]
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
