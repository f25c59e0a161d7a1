"""Training commands: `dataset`, `train`, `eval`, `promote`, `rollback`. Each is a thin call into
the package; heavy imports happen inside the commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.common import console, fail, run_async, state
from cli.output import check_output_path, write_lines

if TYPE_CHECKING:
    from training.evaluation.report import EvaluationReport, MemoryFigures
    from training.runs.report import RunReport

RUNNING_SERVER = " (a running `tgtwin run`/`serve` switches within seconds)"


def dataset_command(
    ctx: typer.Context,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Write every example (with its split) as JSON lines.",
    )] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print one JSON object: counts and training-sequence statistics.",
    )] = False,
) -> None:
    """Build the training dataset from stored chats and print its counts and training coverage."""
    from storage import Database
    from training.data.coverage import current_coverage
    from training.data.dataset import load_dataset

    if out is not None:
        check_output_path(out)  # before the build: a mistyped --out should not cost a dataset build
    settings = state(ctx).settings

    async def build() -> Any:
        async with Database.open(settings.db_path) as db:
            built = await load_dataset(db, settings)
            return built, await current_coverage(db, settings, built.conversations)

    from training.data.statistics import dataset_report

    built, coverage = run_async(build())
    report = dataset_report(built, settings, coverage=coverage)
    if out is not None:
        write_lines(out, (json.dumps(example.to_json(), ensure_ascii=False) + "\n" for example in built.examples))
    if as_json:
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False))
        return
    if report.language is not None:
        console.print(f"warning: {report.language.message}", markup=False, highlight=False)
    s = built.stats
    redactions = ", ".join(f"{k} {v}" for k, v in sorted(s.redactions.items())) or "none"
    console.print(
        f"examples {s.examples} (train {s.train}, held-out {s.heldout}, owner-initiated {s.owner_initiated}) "
        f"from {s.chats} chats; redactions: {redactions}; dropped by blocked words: {s.blocked}; "
        f"the bot's own messages left out: {s.excluded_bot_messages} (and {s.excluded_context_messages} "
        f"messages around them)",
        markup=False, highlight=False,
    )
    if report.sequences is not None:
        q = report.sequences
        console.print(f"training sequences {q.sequences} ({q.tokens} tokens, "
                      f"{q.loss_token_share:.1%} carry loss)", markup=False, highlight=False)
    console.print(f"coverage: {coverage.summary()}", markup=False, highlight=False)
    if out is not None:
        console.print(f"wrote {len(built.examples)} examples to {out}", markup=False, highlight=False)


def train_command(
    ctx: typer.Context,
    preset: Annotated[str | None, typer.Option(
        help="Preset from training/presets (default TGTWIN_TRAINING_PRESET).",
    )] = None,
    max_steps: Annotated[int | None, typer.Option(help="Override the preset's step limit.")] = None,
    fresh: Annotated[bool, typer.Option(
        "--fresh", help="Start from the base model instead of continuing the last adapter.",
    )] = False,
) -> None:
    """Fine-tune an adapter now (in this process; progress in the log), evaluate it and apply the promotion gate.
    A run continues the last adapter (same base model and prompt format) on the owner turns it has not
    learned yet, newest first, with a replay share of learned ones. Refused while another run trains
    (the panel's, or one whose server was restarted)."""
    from application.errors import ActionError
    from application.training_actions import train_now
    from training.runs.run import TrainingError

    if max_steps is not None and max_steps < 1:
        fail(f"--max-steps must be at least 1 (got {max_steps})")
    settings = state(ctx).settings

    overrides: dict[str, Any] = {"max_steps": max_steps} if max_steps is not None else {}
    if fresh:
        overrides["fresh"] = True
    try:
        result = run_async(train_now(settings, preset, overrides))
    except (ActionError, TrainingError) as exc:
        fail(str(exc))
    console.print(f"run {result.run_id}: adapter {result.adapter_id} at {result.adapter_dir}",
                  markup=False, highlight=False)
    _print_report(result.report.evaluation, result.report)


def eval_command(
    ctx: typer.Context,
    adapter: Annotated[str | None, typer.Argument(
        help="Adapter id (default: the promoted one, else the newest).",
    )] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole report as one JSON object.")] = False,
) -> None:
    """Print an adapter's evaluation report (held-out perplexity, style, samples, gate decision)."""
    from storage import Database, NotFound
    from training.evaluation.report import EvaluationReport
    from training.runs.adapter_reports import adapter_report
    from training.runs.reconcile import reconcile_runs

    settings = state(ctx).settings

    async def find() -> Any:
        async with Database.open(settings.db_path) as db:
            await reconcile_runs(db, settings)
            return await adapter_report(db, adapter)

    try:
        found = run_async(find())
    except NotFound as exc:
        fail(str(exc))
    if found is None:
        fail("no adapters yet; run `tgtwin train` first")
    chosen = found.adapter
    if as_json:
        from training.runs.report import eval_json

        typer.echo(json.dumps(eval_json(chosen.id, found.run, found.metrics), ensure_ascii=False))
        return
    console.print(f"adapter {chosen.id} (base {chosen.base_model}, run {chosen.run_id})", markup=False, highlight=False)
    if found.run is not None:
        _print_report(found.run.evaluation, found.run)
    else:  # no run report: the figures its adapter row kept
        _print_report(EvaluationReport(0, 0, found.metrics.perplexity, found.metrics.hits_at_1), None)


def promote_command(ctx: typer.Context, adapter: Annotated[str, typer.Argument(help="Adapter id to serve.")]) -> None:
    """Serve this adapter (a running `tgtwin run`/`serve` switches to it within seconds)."""
    from application.errors import ActionError
    from application.training_actions import promote
    from storage import Database, NotFound
    from training.runs.promotion import ServedElsewhere

    settings = state(ctx).settings

    async def go() -> None:
        async with Database.open(settings.db_path) as db:
            await promote(db, ServedElsewhere(settings.base_model), adapter, "promoted from the CLI")

    try:
        run_async(go())
    except (NotFound, ActionError) as exc:
        fail(str(exc))
    console.print(f"promoted {adapter}{RUNNING_SERVER}", markup=False, highlight=False)


def rollback_command(ctx: typer.Context) -> None:
    """Serve what was promoted before the current adapter (or the base model)."""
    from application.errors import ActionError
    from application.training_actions import rollback
    from storage import Database
    from training.runs.promotion import ServedElsewhere

    settings = state(ctx).settings

    async def go() -> Any:
        async with Database.open(settings.db_path) as db:
            return await rollback(db, ServedElsewhere(settings.base_model))

    try:
        previous = run_async(go())
    except ActionError as exc:
        fail(str(exc))
    console.print(f"now serving {previous.id if previous else 'the base model'}{RUNNING_SERVER}", markup=False,
                  highlight=False)


def _fmt(value: Any) -> str:
    return "—" if value is None else (f"{value:.3f}" if isinstance(value, float) else str(value))


def _line(text: str) -> None:
    console.print(text, markup=False, highlight=False)


def _print_report(evaluation: EvaluationReport, run: RunReport | None) -> None:
    """An evaluation, and the rest of its run's report when there is one, as plain lines (message
    texts are the owner's own; shown on request)."""
    ppl, hits = evaluation.perplexity, evaluation.hits_at_1
    _line(f"held-out perplexity: base {_fmt(ppl.base)}, promoted {_fmt(ppl.promoted)}, new {_fmt(ppl.new)}"
          f"  ({evaluation.heldout_examples if run else '?'} examples)")
    _line(f"hits@1: base {_fmt(hits.base)}, promoted {_fmt(hits.promoted)}, new {_fmt(hits.new)}; "
          f"blind judge {_fmt(evaluation.blind_judge_accuracy)}, style distance {_fmt(evaluation.style_distance)} "
          f"({evaluation.generated} generated)")
    if evaluation.memory is not None:
        _line(_memory_line(evaluation.memory))
    fit = run.fit if run else None
    if fit:
        _line(f"training: {fit.steps} steps in {fit.seconds}s, {fit.tokens_per_second} tokens/s, real-token "
              f"share {fit.real_token_share:.1%}, final loss {_fmt(fit.final_loss)}, epochs covered "
              f"{_fmt(fit.epochs_covered)}")
    timing = evaluation.timing
    if timing:
        share = f" = {timing.total / fit.seconds:.0%} of training's {fit.seconds}s" if fit and fit.seconds else ""
        _line(f"evaluation: {timing.total}s{share} (export {timing.export}s, perplexity {timing.perplexity}s, "
              f"hits@1 {timing.hits}s, generation {timing.generation}s, memory figures {timing.memory}s; "
              f"{timing.cached_lookups} of {timing.cached_lookups + timing.measured_lookups} measurements cached); "
              f"replies: "
              f"{evaluation.replies_path}")
    if run is not None:
        _print_run(run)
    style = evaluation.style
    if style:
        _line("style (generated / real):")
        for name, generated in style.generated.items():
            _line(f"  {name:24s} {round(generated, 4):>8} / {round(style.real[name], 4):<8}")
    for i, sample in enumerate(evaluation.samples, 1):
        _line(f"sample {i}:")
        for turn in sample.context:
            who = "owner" if turn.role == "owner" else (turn.speaker or "partner")
            _line(f"  {who}: {' | '.join(turn.messages)}")
        _line(f"  real:      {' | '.join(sample.real)}")
        _line(f"  generated: {' | '.join(sample.generated)}")


def _memory_line(memory: MemoryFigures) -> str:
    """memory_recall and hits@1 with memory on and off (only "off" for a format without memory)."""
    recall, hits = memory.memory_recall, memory.hits_at_1
    if memory.fact_dependent is None:
        turns = "no history given"
    else:
        found = f", the fact in memory for {memory.fact_in_memory}" if memory.fact_in_memory is not None else ""
        turns = f"{memory.fact_dependent} fact-dependent turns{found}"
    if not memory.memory:
        return (f"memory: the adapter's format has none; memory_recall {_fmt(recall.off)} ({turns}), "
                f"hits@1 {_fmt(hits.off)}")
    return (f"memory: memory_recall on {_fmt(recall.on)} / off {_fmt(recall.off)} ({turns}); "
            f"hits@1 on {_fmt(hits.on)} / off {_fmt(hits.off)}")


def _print_run(run: RunReport) -> None:
    """The preference stage, what the run continued and learned, and the gate's decision."""
    stage, learning, promotion = run.preference, run.coverage, run.promotion
    if stage:
        detail = (f"{stage.pairs_train} pairs trained, {stage.pairs_heldout} held out, held-out accuracy "
                  f"{_fmt(stage.accuracy_before)} -> {_fmt(stage.accuracy_after)}, {stage.steps} steps"
                  if stage.ran else f"not run ({stage.reason})")
        _line(f"preference stage: {detail}")
    if learning:
        _line(f"continual: {learning.start}; learned {learning.new_turns} new and replayed {learning.replayed_turns} "
              f"owner turns; coverage {learning.coverage.share:.1%} of {learning.coverage.owner_turns}")
    if promotion:
        _line(f"gate: {'PROMOTED' if promotion.promote else 'not promoted'} — {promotion.reason}")
