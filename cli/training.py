"""Training commands: `dataset`, `train`, `eval`, `promote`, `rollback`. Each is a thin call into
the package; heavy imports happen inside the commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.common import console, fail, run_async, state
from cli.output import check_output_path, write_lines

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
        console.print(f"training sequences {q['sequences']} ({q['tokens']} tokens, "
                      f"{q['loss_token_share']:.1%} carry loss)", markup=False, highlight=False)
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
    _print_report(result.report.to_json())


def eval_command(
    ctx: typer.Context,
    adapter: Annotated[str | None, typer.Argument(
        help="Adapter id (default: the promoted one, else the newest).",
    )] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole report as one JSON object.")] = False,
) -> None:
    """Print an adapter's evaluation report (held-out perplexity, style, samples, gate decision)."""
    from storage import Database, NotFound
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

        typer.echo(json.dumps(eval_json(chosen.id, found.report, chosen.metrics), ensure_ascii=False))
        return
    console.print(f"adapter {chosen.id} (base {chosen.base_model}, run {chosen.run_id})", markup=False, highlight=False)
    _print_report(found.report)


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


def _print_report(report: dict[str, Any]) -> None:
    """The evaluation report as plain lines (message texts are the owner's own; shown on request)."""
    evaluation = report.get("evaluation", {})
    ppl = evaluation.get("perplexity", {})
    console.print(
        f"held-out perplexity: base {_fmt(ppl.get('base'))}, promoted {_fmt(ppl.get('promoted'))}, "
        f"new {_fmt(ppl.get('new'))}"
        f"  ({evaluation.get('heldout_examples', '?')} examples)", markup=False, highlight=False,
    )
    hits = evaluation.get("hits_at_1") or {}
    console.print(
        f"hits@1: base {_fmt(hits.get('base'))}, promoted {_fmt(hits.get('promoted'))}, new {_fmt(hits.get('new'))}; "
        f"blind judge {_fmt(evaluation.get('blind_judge_accuracy'))}, "
        f"style distance {_fmt(evaluation.get('style_distance'))} "
        f"({evaluation.get('generated', 0)} generated)", markup=False, highlight=False,
    )
    fit = report.get("fit")
    if fit:
        console.print(
            f"training: {fit['steps']} steps in {fit['seconds']}s, {fit['tokens_per_second']} tokens/s, "
            f"real-token share {fit['real_token_share']:.1%}, final loss {_fmt(fit.get('final_loss'))}, "
            f"epochs covered {_fmt(fit.get('epochs_covered'))}",
            markup=False, highlight=False,
        )
    timing = evaluation.get("timing")
    if timing:
        train = (fit or {}).get("seconds")
        share = f" = {timing['total'] / train:.0%} of training's {train}s" if train else ""
        console.print(
            f"evaluation: {timing['total']}s{share} (export {timing['export']}s, perplexity {timing['perplexity']}s, "
            f"hits@1 {timing['hits']}s, generation {timing['generation']}s; {timing['cached_lookups']} of "
            f"{timing['cached_lookups'] + timing['measured_lookups']} measurements cached); replies: "
            f"{evaluation.get('replies_path')}", markup=False, highlight=False,
        )
    stage = report.get("preference")
    if stage:
        detail = (f"{stage['pairs_train']} pairs trained, {stage['pairs_heldout']} held out, held-out accuracy "
                  f"{_fmt(stage.get('accuracy_before'))} -> {_fmt(stage.get('accuracy_after'))}, {stage['steps']} steps"
                  if stage.get("ran") else f"not run ({stage.get('reason')})")
        console.print(f"preference stage: {detail}", markup=False, highlight=False)
    learning = report.get("coverage")
    if learning:
        console.print(f"continual: {learning['start']}; learned {learning['new_turns']} new and replayed "
                      f"{learning['replayed_turns']} owner turns; coverage {learning['share']:.1%} of "
                      f"{learning['owner_turns']}", markup=False, highlight=False)
    promotion = report.get("promotion")
    if promotion:
        console.print(f"gate: {'PROMOTED' if promotion['promote'] else 'not promoted'} — {promotion['reason']}",
                      markup=False, highlight=False)
    style = evaluation.get("style") or {}
    if style:
        console.print("style (generated / real):", markup=False, highlight=False)
        for name, row in style.items():
            console.print(f"  {name:24s} {row['generated']:>8} / {row['real']:<8}", markup=False, highlight=False)
    for i, sample in enumerate(evaluation.get("samples") or [], 1):
        console.print(f"sample {i}:", markup=False, highlight=False)
        for turn in sample["context"]:
            who = "owner" if turn["role"] == "owner" else (turn.get("speaker") or "partner")
            console.print(f"  {who}: {' | '.join(turn.get('messages') or [turn.get('text', '')])}",
                          markup=False, highlight=False)
        console.print(f"  real:      {' | '.join(sample['real'])}", markup=False, highlight=False)
        console.print(f"  generated: {' | '.join(sample['generated'])}", markup=False, highlight=False)
