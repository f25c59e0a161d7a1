"""How the reply is chosen among sampled candidates changes the twin's voice: every selection rule on
the very same samples.

    python -m bench.selection_bench --data-dir DIR [--adapter DIR] [--contexts 80] [--candidates 4] [--repeats 3]

For each of the last `--contexts` held-out contexts of the data dir's dataset, `--repeats` times:
samples `--candidates` replies with the adapter (default: the promoted one) on the engine that
serves here (`TGTWIN_SERVING_ENGINE`: CTranslate2 int8 on CPU), filters them like the live path
(`model.candidates.filter_candidates`), scores every kept candidate in its context and without it
(the chat's header and an empty partner turn), and lets each rule choose on exactly those samples:

- `first_sample`: the first kept sample (no ranking: the model's own draw);
- `ranked`: the best in-context score (mean log-probability per token) across message counts;
- `within_rhythm`: the best in-context score among replies with the first kept sample's message
  count (what served before issue 19);
- `gain_<w>` / `gain_<w>_within_rhythm`: the best `in-context - w * context-free` score (what the
  reply owes to this conversation rather than to being short and plain), across counts / within
  the sampled rhythm;
- `drop_worst`: the first kept sample, unless it scores lowest in context (then the next);
- `served`: what the live rule (`model.candidates.choose_replies`, `by_context_gain`) picks.

Prints per rule what the gate judges — style distance to the owner's real replies and the blind
judge (mean over repeats and their standard deviation; 0.5 = indistinguishable) — how close the
chosen reply is to what the owner really answered (character 3-gram F1, `overlap`), and the style
features ranking can flatten: ")" endings, multi-message turns, mean characters, invented-word
share; the owner's own beside them. Prints only what it measured, with the load average (the
machine may be shared).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import fmean, pstdev
from typing import Any


@dataclass(frozen=True, slots=True)
class Scored:
    """A kept candidate (in sampling order) with its in-context and context-free scores."""

    messages: tuple[str, ...]
    in_context: float
    context_free: float


Rule = Callable[[Sequence[Scored]], tuple[str, ...]]


def char_f1(generated: Sequence[str], real: Sequence[str], n: int = 3) -> float:
    """Character n-gram F1 of two replies (messages joined by newlines, case folded); 0 when either is empty."""
    def grams(messages: Sequence[str]) -> Counter[str]:
        text = "\n".join(messages).casefold()
        return Counter(text[i:i + n] for i in range(len(text) - n + 1))

    mine, theirs = grams(generated), grams(real)
    common = sum((mine & theirs).values())
    if not common:
        return 0.0
    precision, recall = common / sum(mine.values()), common / sum(theirs.values())
    return 2 * precision * recall / (precision + recall)


def _best(candidates: Sequence[Scored], key: Callable[[Scored], float]) -> tuple[str, ...]:
    return max(candidates, key=key).messages if candidates else ()


def _within_rhythm(candidates: Sequence[Scored]) -> list[Scored]:
    return [c for c in candidates if len(c.messages) == len(candidates[0].messages)] if candidates else []


def _drop_worst(candidates: Sequence[Scored]) -> tuple[str, ...]:
    if len(candidates) < 2:
        return candidates[0].messages if candidates else ()
    worst = min(candidates, key=lambda c: c.in_context)
    return next(c.messages for c in candidates if c is not worst)


def _served(candidates: Sequence[Scored]) -> tuple[str, ...]:
    """`model.candidates.choose_replies`'s choice, on these scores."""
    from model.candidates import Candidate, by_context_gain

    if len(candidates) < 2:
        return candidates[0].messages if candidates else ()
    ranked = sorted(candidates, key=lambda c: c.in_context, reverse=True)  # `rank`'s order
    in_context = [Candidate(c.messages, None, c.in_context) for c in ranked]
    return by_context_gain(in_context, [c.context_free for c in ranked])[0].messages


def rules() -> dict[str, Rule]:
    out: dict[str, Rule] = {
        "first_sample": lambda cs: cs[0].messages if cs else (),
        "ranked": lambda cs: _best(cs, lambda c: c.in_context),
        "within_rhythm": lambda cs: _best(_within_rhythm(cs), lambda c: c.in_context),
    }
    for weight in (0.5, 1.0):
        def gain(c: Scored, w: float = weight) -> float:
            return c.in_context - w * c.context_free
        out[f"gain_{weight}"] = lambda cs, f=gain: _best(cs, f)
        out[f"gain_{weight}_within_rhythm"] = lambda cs, f=gain: _best(_within_rhythm(cs), f)
    out["drop_worst"] = _drop_worst
    out["served"] = _served
    return out


async def _heldout(data_dir: Path, adapter: str | None, contexts: int) -> tuple[Any, list[Any], Any, str | None]:
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
        if adapter is None:
            promoted = await training_queries.promoted_adapter(db)
            adapter = promoted.path if promoted else None
    heldout = sorted((e for e in built.heldout if e.dialogue.turns), key=lambda e: e.date)[-contexts:]
    return settings, heldout, lexicon_for(built.train), adapter


def _engine(settings: Any, adapter: str | None) -> Any:
    from model.ct2_export import serving_engine

    if serving_engine(settings.serving_engine) == "ct2":
        from model.ct2_engine import Ct2Engine

        engine: Any = Ct2Engine(settings.base_model, settings.models_dir)
    else:
        from model.torch_engine import TorchEngine

        engine = TorchEngine(settings.base_model, settings.models_dir)
    engine.load()
    engine.activate(adapter)
    return engine


def sample_scored(engine: Any, fmt: Any, dialogue: Any, gen: Any, candidates: int) -> list[Scored]:
    """One round of the live path up to the choice: sample, filter, score in and out of context."""
    from model.candidates import context_free, filter_candidates, last_partner_messages, markers_for

    sampled = engine.sample(fmt, dialogue, gen, candidates)
    kept = [c.messages for c in filter_candidates(sampled, last_partner_messages(dialogue),
                                                  markers_for(fmt, dialogue, engine.tokenizer)) if c.dropped is None]
    if not kept:
        return []
    inside = engine.score(fmt, dialogue, kept)
    outside = engine.score(fmt, context_free(dialogue), kept)
    return [Scored(m, float("-inf") if a is None else a, 0.0 if b is None else b)
            for m, a, b in zip(kept, inside, outside, strict=True)]


def measure(data_dir: Path, adapter: str | None, contexts: int, candidates: int, repeats: int) -> dict[str, Any]:
    from model.adapter_format import serving_format
    from model.candidates import last_partner_messages, markers_for
    from model.generation import GenerationSettings
    from model.prompt import PromptFormat
    from training.evaluation.judge import blind_judge_accuracy
    from training.evaluation.style import ReplyContext, compare_style

    settings, heldout, lexicon, adapter = asyncio.run(_heldout(data_dir, adapter, contexts))
    engine = _engine(settings, adapter)
    fmt = serving_format(adapter, lambda: PromptFormat.for_tokenizer(engine.tokenizer))
    gen = GenerationSettings.from_settings(settings)
    chosen: dict[str, list[list[tuple[str, ...]]]] = {name: [[] for _ in range(repeats)] for name in rules()}
    started = time.perf_counter()
    for example in heldout:
        for repeat in range(repeats):
            scored = sample_scored(engine, fmt, example.dialogue, gen, candidates)
            for name, rule in rules().items():
                chosen[name][repeat].append(rule(scored))
    seconds = time.perf_counter() - started
    real = [list(e.reply.messages) for e in heldout]
    judged = [ReplyContext(last_partner_messages(e.dialogue), markers_for(fmt, e.dialogue, engine.tokenizer))
              for e in heldout]
    out: dict[str, Any] = {}
    for name, per_repeat in chosen.items():
        styles = [compare_style([list(r) for r in replies], real, judged, lexicon) for replies in per_repeat]
        judges = [blind_judge_accuracy(real, [list(r) for r in replies]) for replies in per_repeat]

        def mean(metric: str, which: str = "generated", of: list[Any] = styles) -> float:
            return round(fmean(getattr(s, which)[metric] for s in of), 4)

        measured = [j for j in judges if j is not None]
        out[name] = {
            "style_distance": round(fmean(s.style_distance for s in styles), 4),
            "blind_judge": round(fmean(measured), 4) if measured else None,
            "blind_judge_sd": round(pstdev(measured), 4) if measured else None,
            "overlap": round(fmean(char_f1(r, e.reply.messages) for replies in per_repeat
                                   for r, e in zip(replies, heldout, strict=True)), 4),
            "end_paren_share": mean("end_paren_share"), "multi_message_share": mean("multi_message_share"),
            "mean_chars": mean("mean_chars"), "invented_share": mean("invented_share"),
        }
    owner = styles[0].real
    return {
        "adapter": adapter, "engine": engine.name, "contexts": len(heldout), "candidates": candidates,
        "repeats": repeats,
        "owner": {k: round(owner[k], 4)
                  for k in ("end_paren_share", "multi_message_share", "mean_chars", "invented_share")},
        "rules": out, "seconds": round(seconds, 1), "load_average": round(os.getloadavg()[0], 2),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.selection_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="A data dir with a trained adapter.")
    parser.add_argument("--adapter", default=None, help="Adapter directory (default: the promoted one).")
    parser.add_argument("--contexts", type=int, default=80)
    parser.add_argument("--candidates", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3, help="Samples per context (each judged as its own set).")
    parser.add_argument("--json", action="store_true", help="One JSON object instead of the table.")
    args = parser.parse_args(argv)
    result = measure(args.data_dir, args.adapter, args.contexts, args.candidates, args.repeats)
    if args.json:
        print(json.dumps(result))
        return
    print(f"{result['contexts']} held-out contexts x {result['repeats']} samplings of {result['candidates']} "
          "candidates, "
          f"engine {result['engine']}, {result['seconds']}s, load average {result['load_average']}")
    print(f"{'rule':26s} {'style dist':>10} {'judge (sd)':>14} {'overlap':>7} {'end )':>6} {'multi':>6} {'chars':>6} "
          f"{'invented':>8}")
    owner = result["owner"]
    print(f"{'(owner)':26s} {'':>10} {'':>14} {'':>7} {owner['end_paren_share']:6.1%} "
          f"{owner['multi_message_share']:6.1%} "
          f"{owner['mean_chars']:6.1f} {owner['invented_share']:8.1%}")
    for name, r in result["rules"].items():
        judge = f"{r['blind_judge']:.3f} ({r['blind_judge_sd']:.3f})" if r["blind_judge"] is not None else "-"
        print(f"{name:26s} {r['style_distance']:10.3f} {judge:>14} {r['overlap']:7.3f} {r['end_paren_share']:6.1%} "
              f"{r['multi_message_share']:6.1%} {r['mean_chars']:6.1f} {r['invented_share']:8.1%}")


if __name__ == "__main__":
    main()
