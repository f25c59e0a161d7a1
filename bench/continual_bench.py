"""Continual training at real scale: successive default-preset runs on a generated history the size
of a real one, each continuing the last adapter, one line per run.

    python -m bench.continual_bench                      # 4 runs, smollm2-cpu, 10,000 owner messages
    python -m bench.continual_bench --runs 2 --preset tiny --owner-messages 300 --max-steps 2   # a quick check
    python -m bench.continual_bench --runs 2 --max-steps 12 --variant "lr5e-4 learning_rate=5e-4" \
        --variant "attn target_modules=[q_proj,k_proj,v_proj,o_proj]"    # preset variants side by side

The history comes from `testdata.exports` (`--owner-messages`, `--contacts`,
`--months`), imported into a fresh data dir (`--data-dir`, default a temporary one; `--models-dir`
reuses built base models). Each line: coverage after the run (owner turns learned at least once,
and what the run learned new / replayed), held-out perplexity (the held-out set stays put, so runs
compare), hits@1, blind-judge accuracy (0.5 = indistinguishable from the owner) with the model it
was compared with, the gate's decision, training minutes (the trainer's own clock) and evaluation
minutes (the rest of the run's wall time: evaluation, loading, saving). Then the issue's checks:
coverage grows every run, held-out perplexity never gets worse, and the last run beats the base
model on the blind judge and hits@1. Prints only what the runs measured.

`--set key=value` (repeatable) changes a preset field for every run (the value is read as JSON,
else YAML, e.g. `learning_rate=5e-4`, `target_modules=[q_proj,v_proj]`). `--variant "NAME key=value
..."` (repeatable) compares variants of the preset: the preset itself, then each variant, each
doing `--runs` successive runs in a data dir of its own that holds the same generated history (so
the same held-out set), sharing the built base models and one evaluation cache (the base model is
evaluated once). Give `--max-steps` with variants: every run then trains exactly that many optimizer
steps (the time budget is switched off), so a variant slowed by the machine's load is not given
fewer steps. One table row per run: steps, real tokens trained, seconds per step (the trainer's
clock; on a shared machine these carry its load), coverage, held-out perplexity, hits@1, blind judge.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from testdata.exports import ExportSpec, write_export

if TYPE_CHECKING:
    from training.runs.report import RunReport


@dataclass(frozen=True, slots=True)
class RunLine:
    """One run's figures, from its report."""

    run: int
    coverage: float
    new_turns: int
    replayed_turns: int
    continued_from: str | None
    ppl_new: float | None
    ppl_base: float | None
    hits_new: float | None
    hits_base: float | None
    judge_new: float | None
    judge_reference: float | None
    reference: str
    promoted: bool
    train_minutes: float
    eval_minutes: float
    steps: int = 0
    tokens: int = 0
    """Real (non-padding) tokens the run's steps trained on."""

    def text(self) -> str:
        return (
            f"run {self.run}: coverage {self.coverage:.1%} (+{self.new_turns} new, {self.replayed_turns} replayed; "
            f"from {self.continued_from or 'base'}) | held-out ppl {_f(self.ppl_new)} (base {_f(self.ppl_base)}) | "
            f"hits@1 {_f(self.hits_new)} (base {_f(self.hits_base)}) | blind judge {_f(self.judge_new)} "
            f"({self.reference} {_f(self.judge_reference)}) | {'promoted' if self.promoted else 'not promoted'} | "
            f"train {self.train_minutes:.1f} min | eval {self.eval_minutes:.1f} min"
        )


def _f(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def run_line(number: int, report: RunReport, wall_seconds: float) -> RunLine:
    """The figures of one run's report (pure)."""
    evaluation, learning = report.evaluation, report.coverage
    reference = evaluation.reference
    train_seconds = report.fit.seconds if report.fit else 0.0
    return RunLine(
        number, learning.coverage.share if learning else 0.0, learning.new_turns if learning else 0,
        learning.replayed_turns if learning else 0, learning.continued_from if learning else None,
        evaluation.perplexity.new, evaluation.perplexity.base, evaluation.hits_at_1.new, evaluation.hits_at_1.base,
        evaluation.blind_judge_accuracy, reference.blind_judge_accuracy if reference else None,
        reference.label if reference else "reference", bool(report.promotion and report.promotion.promote),
        train_seconds / 60, max(0.0, wall_seconds - train_seconds) / 60,
        report.fit.steps if report.fit else 0, report.fit.real_tokens if report.fit else 0,
    )


def checks(lines: list[RunLine]) -> list[str]:
    """The issue's acceptance checks on the runs, each PASS, FAIL or not measured (pure)."""
    def verdict(ok: bool | None) -> str:
        return "not measured" if ok is None else ("PASS" if ok else "FAIL")

    grows = all(b.coverage > a.coverage or a.coverage >= 1.0 for a, b in zip(lines, lines[1:], strict=False))
    ppls = [line.ppl_new for line in lines]
    steady = None if None in ppls else all(b <= a for a, b in zip(ppls, ppls[1:], strict=False))  # type: ignore[operator]
    last = lines[-1]
    judged_on_base = last.reference == "base model" and None not in (last.judge_new, last.judge_reference)
    judge = (last.judge_new < last.judge_reference) if judged_on_base else None  # type: ignore[operator]
    hits = None if None in (last.hits_new, last.hits_base) else last.hits_new > last.hits_base  # type: ignore[operator]
    return [
        f"coverage grows every run: {verdict(grows)}",
        f"held-out perplexity never gets worse: {verdict(steady)}",
        f"run {last.run} beats the base model on the blind judge: {verdict(judge)}"
        + ("" if judged_on_base else f" (compared with {last.reference})"),
        f"run {last.run} beats the base model on hits@1: {verdict(hits)}",
    ]


@dataclass(frozen=True, slots=True)
class Variant:
    """A variant of the preset: a name (its data dir's name) and the preset fields it changes."""

    name: str
    settings: dict[str, Any] = field(default_factory=dict)

    def text(self) -> str:
        return " ".join(f"{key}={json.dumps(value)}" for key, value in self.settings.items()) or "the preset as it is"


def parse_setting(text: str) -> tuple[str, Any]:
    """`key=value` → (key, value): the value read as JSON (`5e-4`, `true`), else as YAML (`[q_proj, v_proj]`),
    else kept as text (pure)."""
    import yaml

    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"expected key=value, got {text!r}")
    try:
        return key.strip(), json.loads(raw)
    except ValueError:
        pass
    try:
        return key.strip(), yaml.safe_load(raw)
    except yaml.YAMLError:
        return key.strip(), raw


def parse_variant(text: str) -> Variant:
    """`"NAME key=value ..."` → a `Variant` (pure)."""
    name, *settings = shlex.split(text) or [""]
    if not name or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise ValueError(f"variant {text!r}: start with a name of letters, digits, '-', '_' or '.'")
    return Variant(name, dict(parse_setting(item) for item in settings))


def check_variants(preset: str, common: dict[str, Any], variants: list[Variant]) -> None:
    """Refuse, before any work, a variant the preset cannot take (unknown field, bad value, a
    repeated name) or one that would train exactly like the preset."""
    from training.config import load_preset

    base = load_preset(preset)
    names = [v.name for v in variants]
    if len(set(names)) < len(names):
        raise ValueError(f"variant names must differ: {', '.join(names)}")
    for variant in variants:
        if "packing" in variant.settings or "packing" in common:
            # training.fit trains a run's rows unpacked in coverage order (training.curriculum), whatever the preset.
            raise ValueError("runs never pack (training/fit.py, ordered rows), so `packing` changes nothing here; "
                             "bench/train_bench.py measures packing")
        try:
            base.with_overrides(**common, **variant.settings)
        except TypeError as exc:
            raise ValueError(f"variant {variant.name}: a value has the wrong type ({exc})") from exc


def table_row(variant: str, line: RunLine, load: float) -> str:
    """One run as a row of the variants table (pure)."""
    per_step = f"{line.train_minutes * 60 / line.steps:.1f}" if line.steps else "—"
    return (f"| {variant} | {line.run} | {line.steps} | {line.tokens:,} | {per_step} | {load:.1f} | "
            f"{line.coverage:.1%} | {_f(line.ppl_new)} | {_f(line.hits_new)} | {_f(line.judge_new)} |")


TABLE_HEADER = ("| variant | run | steps | tokens seen | s/step (under shared load) | load avg | coverage "
                "| held-out ppl | hits@1 | blind judge |\n" + "| --- " * 10 + "|")


def base_row(line: RunLine) -> str:
    """The base model's figures from a first run's report (its judge only when the run compared with the base)."""
    judge = line.judge_reference if line.reference == "base model" else None
    return f"| base model | – | – | – | – | – | – | {_f(line.ppl_base)} | {_f(line.hits_base)} | {_f(judge)} |"


async def _import_history(settings: Any, export: Path, owner_messages: int) -> str:
    from storage import Database
    from storage import messages as message_queries
    from telegram_export import import_export

    async with Database.open(settings.db_path) as db:
        if (await message_queries.counts(db)).messages:
            raise SystemExit(f"{settings.data_dir} already holds messages: the bench needs a fresh data dir")
        result = await import_export(db, export)
    return f"history: {result.messages_added:,} messages in {result.chats} chats ({owner_messages:,}+ by the owner)"


def _share(path: Path, target: Path) -> None:
    """Make `path` a link to the shared directory `target` (kept as it is when `path` exists)."""
    if path.exists():
        return
    target.mkdir(parents=True, exist_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target.resolve(), target_is_directory=True)


def run_variant(
    settings: Any, preset: str, runs: int, overrides: dict[str, Any], on_line: Callable[[RunLine, float], None],
) -> list[RunLine]:
    """`runs` successive runs with `overrides` in one data dir; `on_line` gets each run's line and the
    load average (1 minute) right after it."""
    import os

    from training.runs.run import run_training

    lines = []
    for number in range(1, runs + 1):
        started = time.perf_counter()
        result = asyncio.run(run_training(settings, preset=preset, trigger="bench", overrides=overrides))
        wall = time.perf_counter() - started
        lines.append(run_line(number, result.report, wall))
        on_line(lines[-1], os.getloadavg()[0])
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.continual_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--preset", default="smollm2-cpu")
    parser.add_argument("--max-steps", type=int, default=None,
                        help="Train exactly this many optimizer steps per run (the time budget is switched off).")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="Change a preset field for every run (repeatable).")
    parser.add_argument("--variant", action="append", default=[], metavar='"NAME KEY=VALUE ..."',
                        help="Also run this variant of the preset (repeatable; needs --max-steps).")
    parser.add_argument("--owner-messages", type=int, default=10_000)
    parser.add_argument("--contacts", type=int, default=40)
    parser.add_argument("--months", type=int, default=6)
    parser.add_argument("--data-dir", type=Path, default=None, help="A fresh data dir (default: a temporary one).")
    parser.add_argument("--models-dir", type=Path, default=None, help="Base models built before (reused, not copied).")
    parser.add_argument("--json", action="store_true", help="One JSON object per run instead of the lines.")
    args = parser.parse_args(argv)
    if args.variant and args.max_steps is None:
        parser.error("--variant needs --max-steps: with the time budget a slower (busier) variant gets fewer steps")
    try:
        spec = ExportSpec(owner_messages=args.owner_messages, contacts=args.contacts, months=args.months)
        common = dict(parse_setting(item) for item in args.set)
        variants = [Variant(args.preset)] + [parse_variant(item) for item in args.variant]
        check_variants(args.preset, common, variants)
    except ValueError as exc:  # PresetError included
        parser.error(str(exc))
    if args.max_steps is not None:
        common |= {"max_steps": args.max_steps, "time_budget_minutes": None}

    from settings import load_settings

    compare = len(variants) > 1

    def show(variant: Variant, line: RunLine, load: float) -> None:
        if args.json:
            print(json.dumps({"variant": variant.name, **asdict(line), "load_average": load}), flush=True)
        elif not compare:
            print(line.text(), flush=True)
        else:
            if variant is variants[0] and line.run == 1:
                print(base_row(line), flush=True)
            print(table_row(variant.name, line, load), flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        root = args.data_dir or Path(tmp) / "data"
        root.mkdir(parents=True, exist_ok=True)
        export = root / "history.json"
        write_export(export, spec)
        if compare:
            for variant in variants:
                print(f"variant {variant.name}: {variant.text()}", flush=True)
        lines: list[RunLine] = []
        for index, variant in enumerate(variants):
            settings = load_settings(data_dir=root / variant.name if compare else root, training_preset=args.preset)
            if args.models_dir is not None or compare:
                _share(settings.models_dir, args.models_dir or root / "shared-models")
            if compare:
                # One cache for all variants, so the base model is evaluated once (entries are keyed by weights).
                _share(settings.data_dir / "eval-cache", root / "shared-eval-cache")
            imported = asyncio.run(_import_history(settings, export, spec.owner_messages or 0))
            if index == 0:
                print(imported + (" (the same for every variant)" if compare else ""), flush=True)
                if compare and not args.json:
                    print(TABLE_HEADER, flush=True)
            lines = run_variant(settings, args.preset, args.runs, {**common, **variant.settings},
                                lambda line, load, variant=variant: show(variant, line, load))
    if not compare:
        for check in checks(lines):
            print(check)


if __name__ == "__main__":
    main()
