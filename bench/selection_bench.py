"""How the reply is chosen among sampled candidates changes the twin's rhythm: side by side, on the
same samples.

    python -m bench.selection_bench --data-dir DIR [--adapter DIR] [--contexts 64] [--candidates 4]

For each held-out context of the data dir's dataset, samples `--candidates` replies once with the
adapter (default: the promoted one), filters them (`model.candidates.filter_candidates`), ranks them
by likelihood in context, and compares three choices on exactly those samples: the first kept sample
(no ranking), the best-ranked across message counts, and the best-ranked among replies with the
first kept sample's message count (`keep_sampled_rhythm`, what serving does). Prints the
multi-message share of each against the owner's real replies. Prints only what it measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any


def _share(turns: list[tuple[str, ...]]) -> float:
    return sum(len(t) >= 2 for t in turns) / len(turns) if turns else 0.0


async def _heldout(data_dir: Path, adapter: str | None, contexts: int) -> tuple[Any, list[Any], str | None]:
    from settings import load_settings
    from storage import Database
    from storage import training as training_queries
    from training.dataset import load_dataset

    settings = load_settings(data_dir=data_dir)
    async with Database.open(settings.db_path) as db:
        built = await load_dataset(db, settings)
        if adapter is None:
            promoted = await training_queries.promoted_adapter(db)
            adapter = promoted.path if promoted else None
    heldout = sorted((e for e in built.heldout if e.dialogue.turns), key=lambda e: e.date)[-contexts:]
    return settings, heldout, adapter


def measure(data_dir: Path, adapter: str | None, contexts: int, candidates: int) -> dict[str, Any]:
    import torch
    from peft import PeftModel

    from model.adapter_format import serving_format
    from model.candidates import (
        filter_candidates,
        keep_sampled_rhythm,
        last_partner_messages,
        markers_for,
        rank,
    )
    from model.generation import GenerationSettings, generate_replies
    from model.prompt import PromptFormat
    from model.sources import load_base
    from model.torch_engine import TorchReplies

    settings, heldout, adapter = asyncio.run(_heldout(data_dir, adapter, contexts))
    torch.manual_seed(0)
    base, tokenizer = load_base(settings.base_model, settings.models_dir)
    model = PeftModel.from_pretrained(base, adapter) if adapter else base
    fmt = serving_format(adapter, lambda: PromptFormat.for_tokenizer(tokenizer))
    gen = GenerationSettings.from_settings(settings)
    chosen: dict[str, list[tuple[str, ...]]] = {"first_sample": [], "ranked": [], "ranked_within_sampled_rhythm": []}
    started = time.perf_counter()
    for example in heldout:
        sampled = generate_replies(model, tokenizer, fmt, example.dialogue, gen, candidates)
        kept = filter_candidates(sampled, last_partner_messages(example.dialogue),
                                 markers_for(fmt, example.dialogue, tokenizer))
        ranked = rank(TorchReplies(model, tokenizer), fmt, example.dialogue, kept)
        first = next((c.messages for c in kept if c.dropped is None), ())
        chosen["first_sample"].append(first)
        chosen["ranked"].append(ranked[0].messages if ranked else ())
        rhythm = keep_sampled_rhythm(kept, ranked)
        chosen["ranked_within_sampled_rhythm"].append(rhythm[0].messages if rhythm else ())
    real = _share([tuple(e.reply.messages) for e in heldout])
    shares = {name: round(_share(turns), 4) for name, turns in chosen.items()}
    return {
        "adapter": adapter, "contexts": len(heldout), "candidates": candidates,
        "real_multi_message_share": round(real, 4),
        "multi_message_share": shares,
        "relative_difference": {n: round(abs(s - real) / real, 4) if real else None for n, s in shares.items()},
        "seconds": round(time.perf_counter() - started, 1), "load_average": round(os.getloadavg()[0], 2),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.selection_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="A data dir with a trained adapter.")
    parser.add_argument("--adapter", default=None, help="Adapter directory (default: the promoted one).")
    parser.add_argument("--contexts", type=int, default=64)
    parser.add_argument("--candidates", type=int, default=4)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.data_dir, args.adapter, args.contexts, args.candidates)))


if __name__ == "__main__":
    main()
