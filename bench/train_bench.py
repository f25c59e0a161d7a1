"""Training throughput against the machine's limit, and padding waste: packed padding-free batches
(the preset) vs a plain padded baseline (random order, each batch padded to its longest sequence) vs
length-grouped padded batches, same whole-conversation training sequences (in the format new
adapters train with), one epoch each; with `--preset-only`, the preset alone; with
`--default-run`, the preset as configured (epochs, time budget) on all sequences: minutes and the
share of an epoch covered.

    python -m bench.train_bench [--preset smollm2-cpu] [--examples 24] [--preset-only] [--beside-serving]
                                [--default-run] [--data-dir DIR]

Every measurement prints real tokens/s and the share of the CPU's peak FLOP rate the step's matmul
work reaches (`bench/flops.py`: FLOPs per token of a LoRA step on this model vs the fp32 peak of a
large torch matmul on the same cores, and vs the theoretical AVX2+FMA peak). `--beside-serving`
measures while a serving process answers replies beside the training, as the product does (the
engine `TGTWIN_SERVING_ENGINE` picks, on the threads serving takes while a run trains), and prints
how many replies it served meanwhile. Reads the training conversations from the database in the
data dir; with none there, imports the bundled sample into a temporary database first. Prints the
load average (the machine may be shared) and only what it measured.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.flops import Peak, cores, lora_step_flops_per_token, measured_peak, theoretical_peak


async def _dataset(settings: Any) -> Any:
    from storage import Database
    from storage import messages as message_queries
    from training.data.dataset import load_dataset

    async with Database.open(settings.db_path) as db:
        if (await message_queries.counts(db)).messages == 0:
            from samples import SAMPLE_EXPORT
            from telegram_export import import_export

            await import_export(db, SAMPLE_EXPORT)
        return await load_dataset(db, settings)


def _serve(data_dir: Path, stop: Any, served: Any) -> None:
    """A serving process: answers held-out contexts with the base model until told to stop."""
    from model.candidates import choose_replies
    from model.ct2_export import serving_engine
    from model.generation import GenerationSettings
    from model.prompt import PromptFormat
    from model.service import serving_threads
    from settings import load_settings

    settings = load_settings(data_dir=data_dir)
    dialogues = [e.dialogue for e in asyncio.run(_dataset(settings)).heldout if e.dialogue.turns]
    if serving_engine(settings.serving_engine) == "ct2":
        from model.ct2_engine import Ct2Engine

        engine: Any = Ct2Engine(settings.base_model, settings.models_dir)
    else:
        from model.torch_engine import TorchEngine

        engine = TorchEngine(settings.base_model, settings.models_dir)
    engine.load()
    engine.use_threads(serving_threads(training=True))
    fmt, gen = PromptFormat.for_tokenizer(engine.tokenizer), GenerationSettings.from_settings(settings)
    served.value = -1  # ready
    i = 0
    while not stop.is_set():
        choose_replies(engine, fmt, dialogues[i % len(dialogues)], gen, settings.reply_candidates)
        i += 1
        served.value = i


@contextmanager
def _serving_beside(data_dir: Path, on: bool) -> Iterator[Any]:
    """A serving process for the duration (yields its reply counter; None when `on` is False)."""
    if not on:
        yield None
        return
    context = multiprocessing.get_context("spawn")
    stop, served = context.Event(), context.Value("i", 0)
    process = context.Process(target=_serve, args=(data_dir, stop, served), daemon=True)
    process.start()
    while served.value == 0 and process.is_alive():  # loading
        time.sleep(0.5)
    try:
        yield served
    finally:
        stop.set()
        process.join(timeout=60)


def _rate(result: Any, peft_model: Any, rows: list[dict[str, list[int]]], peaks: list[Peak]) -> str:
    """Tokens/s and the share of each peak the step's matmul work reaches."""
    lengths = [len(r["input_ids"]) for r in rows]
    mean_context = sum(n * n / 2 for n in lengths) / sum(lengths) if lengths else 0.0
    flops = lora_step_flops_per_token(peft_model, mean_context)
    rate = result.tokens_per_second * flops.per_token
    shares = ", ".join(f"{rate / p.flops_per_second:.1%} of the {'measured' if i == 0 else 'theoretical'} peak"
                       for i, p in enumerate(peaks))
    return (f"{result.tokens_per_second:.0f} real tokens/s x {flops.per_token / 1e9:.2f} GFLOP/token "
            f"(frozen matmul weights {flops.frozen_matmul_weights / 1e6:.0f}M, LoRA {flops.lora_weights / 1e6:.1f}M, "
            f"mean context {flops.mean_context:.0f}) = {rate / 1e9:.1f} GFLOP/s: {shares}")


def _served(counter: Any, before: int) -> str:
    return "" if counter is None else f", {counter.value - before} replies served beside it"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.train_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="smollm2-cpu")
    parser.add_argument("--examples", type=int, default=24, help="Training sequences per variant (one epoch).")
    parser.add_argument("--preset-only", action="store_true", help="Only the preset's batching, no comparison.")
    parser.add_argument("--beside-serving", action="store_true",
                        help="Measure while a serving process answers replies.")
    parser.add_argument("--default-run", action="store_true",
                        help="Instead: the preset as configured on all sequences (epochs covered, minutes).")
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args(argv)

    import torch

    from model.prompt import PromptFormat
    from model.sources import load_base
    from settings import load_settings
    from training.config import load_preset
    from training.data.sequences import encode_conversations
    from training.fitting.fit import fit

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(data_dir=args.data_dir or Path(tmp) / "data")
        preset = load_preset(args.preset)
        base = preset.base_model or settings.base_model
        conversations = asyncio.run(_dataset(settings)).conversations
        threads = torch.get_num_threads()
        peaks = [measured_peak(threads)]
        theoretical = theoretical_peak(cores())
        peaks += [theoretical] if theoretical else []
        for label, peak in zip(("measured", "theoretical"), peaks, strict=False):
            print(f"{label} peak: {peak.flops_per_second / 1e9:.1f} GFLOP/s ({peak.how})")

        def sequences(tokenizer: Any) -> list[dict[str, list[int]]]:
            fmt = PromptFormat.for_training(tokenizer, memory=settings.memory_enabled)
            return encode_conversations(tokenizer, fmt, conversations, preset.max_length, settings.context_turns)[0]

        if args.default_run:
            model, tokenizer = load_base(base, settings.models_dir, quantization=preset.quantization, for_training=True)
            rows = sequences(tokenizer)
            config = preset.with_overrides(save_steps=10**6)
            with _serving_beside(settings.data_dir, args.beside_serving) as served:
                before = max(0, served.value) if served is not None else 0
                peft_model, result = fit(model, tokenizer, rows, config, Path(tmp) / "default")
                beside = _served(served, before)
            print(f"default run ({config.name}, base {base}, budget {config.time_budget_minutes} min): "
                  f"{result.steps} steps, {result.seconds / 60:.1f} minutes, {len(rows)} sequences, "
                  f"epochs covered {result.epochs_covered(len(rows)):.2f}, stopped by budget {result.stopped_by_budget}"
                  f"{beside}, load average {os.getloadavg()[0]:.1f}")
            print(f"  {_rate(result, peft_model, rows, peaks)}")
            return
        config = preset.with_overrides(epochs=1.0, max_steps=-1, save_steps=10**6, logging_steps=10**6,
                                       time_budget_minutes=None)
        print(f"preset {config.name}, base {base}, {args.examples} sequences, max_length {config.max_length}, "
              f"batch {config.batch_size}, {threads} torch threads, load average {os.getloadavg()[0]:.1f}"
              f"{', beside serving' if args.beside_serving else ''}")
        variants = [("preset", config.packing, not config.packing)]
        if not args.preset_only:
            variants += [("packed padding-free", True, False), ("padded baseline", False, False)]
        results = {}
        with _serving_beside(settings.data_dir, args.beside_serving) as served:
            for label, packing, grouped in variants:
                name = f"{label} ({'packed' if packing else 'length-grouped'})" if label == "preset" else label
                model, tokenizer = load_base(base, settings.models_dir, quantization=config.quantization,
                                             for_training=True)
                rows = sequences(tokenizer)[: args.examples]
                before = max(0, served.value) if served is not None else 0
                peft_model, result = fit(model, tokenizer, rows, config, Path(tmp) / label.split()[0],
                                         packing=packing, group_by_length=grouped)
                results[label] = result
                print(f"{name:26s}: {result.steps} steps, {result.seconds:.1f}s, real tokens {result.real_tokens}, "
                      f"positions {result.total_positions}, real-token share {result.real_token_share:.1%}"
                      f"{_served(served, before)}")
                print(f"{'':28s}{_rate(result, peft_model, rows, peaks)}")
        baseline = results["padded baseline"].tokens_per_second if "padded baseline" in results else 0
        if baseline:
            for label in ("preset", "packed padding-free"):
                print(f"speed vs padded baseline, {label}: {results[label].tokens_per_second / baseline:.2f}x")
        print(f"load average after {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
