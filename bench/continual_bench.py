"""Continual training at real scale: successive default-preset runs on a generated history the size
of a real one, each continuing the last adapter, one line per run.

    python -m bench.continual_bench                      # 4 runs, smollm2-cpu, 10,000 owner messages
    python -m bench.continual_bench --runs 2 --preset tiny --owner-messages 300 --max-steps 2   # a quick check

The history comes from `testdata.exports` (`--owner-messages`, `--contacts`,
`--months`), imported into a fresh data dir (`--data-dir`, default a temporary one; `--models-dir`
reuses built base models). Each line: coverage after the run (owner turns learned at least once,
and what the run learned new / replayed), held-out perplexity (the held-out set stays put, so runs
compare), hits@1, blind-judge accuracy (0.5 = indistinguishable from the owner) with the model it
was compared with, the gate's decision, training minutes (the trainer's own clock) and evaluation
minutes (the rest of the run's wall time: evaluation, loading, saving). Then the issue's checks:
coverage grows every run, held-out perplexity never gets worse, and the last run beats the base
model on the blind judge and hits@1. Prints only what the runs measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from dataclasses import asdict, dataclass
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


async def _import_history(settings: Any, spec: ExportSpec) -> str:
    from storage import Database
    from storage import messages as message_queries
    from telegram_export import import_export

    path = settings.data_dir / "history.json"
    write_export(path, spec)
    async with Database.open(settings.db_path) as db:
        if (await message_queries.counts(db)).messages:
            raise SystemExit(f"{settings.data_dir} already holds messages: the bench needs a fresh data dir")
        result = await import_export(db, path)
    return (f"history: {result.messages_added:,} messages in {result.chats} chats "
            f"({spec.owner_messages:,}+ by the owner)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.continual_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--preset", default="smollm2-cpu")
    parser.add_argument("--max-steps", type=int, default=None, help="Override the preset's steps (quick checks only).")
    parser.add_argument("--owner-messages", type=int, default=10_000)
    parser.add_argument("--contacts", type=int, default=40)
    parser.add_argument("--months", type=int, default=6)
    parser.add_argument("--data-dir", type=Path, default=None, help="A fresh data dir (default: a temporary one).")
    parser.add_argument("--models-dir", type=Path, default=None, help="Base models built before (reused, not copied).")
    parser.add_argument("--json", action="store_true", help="One JSON object per run instead of the lines.")
    args = parser.parse_args(argv)
    try:
        spec = ExportSpec(owner_messages=args.owner_messages, contacts=args.contacts, months=args.months)
    except ValueError as exc:
        parser.error(str(exc))

    from settings import load_settings
    from training.runs.run import run_training

    overrides: dict[str, Any] = {} if args.max_steps is None else {"max_steps": args.max_steps}
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(data_dir=args.data_dir or Path(tmp) / "data", training_preset=args.preset)
        if args.models_dir is not None and not settings.models_dir.exists():
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            settings.models_dir.symlink_to(args.models_dir.resolve(), target_is_directory=True)
        print(asyncio.run(_import_history(settings, spec)), flush=True)
        lines = []
        for number in range(1, args.runs + 1):
            started = time.perf_counter()
            result = asyncio.run(run_training(settings, preset=args.preset, trigger="bench", overrides=overrides))
            wall = time.perf_counter() - started

            line = run_line(number, result.report, wall)
            lines.append(line)
            print(json.dumps(asdict(line)) if args.json else line.text(), flush=True)
    for check in checks(lines):
        print(check)


if __name__ == "__main__":
    main()
