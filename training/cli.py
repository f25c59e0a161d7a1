"""Training commands: `dataset`, `train`, `eval`, `promote`, `rollback`. Each is a thin call into
the package; heavy imports happen inside the commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from cli_support import console, fail, run_async, state


def register(app: typer.Typer) -> None:
    app.command("dataset")(dataset_command)
    app.command("train")(train_command)
    app.command("eval")(eval_command)
    app.command("promote")(promote_command)
    app.command("rollback")(rollback_command)


def dataset_command(
    ctx: typer.Context,
    out: Annotated[Optional[Path], typer.Option("--out", help="Write every example (with its split) as JSON lines.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object: counts and training-sequence statistics.")] = False,
) -> None:
    """Build the training dataset from stored chats and print its counts."""
    from storage import Database
    from training.dataset import load_dataset

    settings = state(ctx).settings

    async def build() -> Any:
        async with Database.open(settings.db_path) as db:
            return await load_dataset(db, settings)

    built = run_async(build())
    from training.statistics import dataset_report

    report = dataset_report(built, settings)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", encoding="utf-8") as f:
            for example in built.examples:
                f.write(json.dumps(example.to_json(), ensure_ascii=False) + "\n")
    if as_json:
        print(json.dumps(report.as_dict(), ensure_ascii=False))
        return
    if report.language is not None:
        console.print(f"warning: {report.language.message}", markup=False, highlight=False)
    s = built.stats
    redactions = ", ".join(f"{k} {v}" for k, v in sorted(s.redactions.items())) or "none"
    console.print(
        f"examples {s.examples} (train {s.train}, held-out {s.heldout}, owner-initiated {s.owner_initiated}) "
        f"from {s.chats} chats; redactions: {redactions}; dropped by blocked words: {s.blocked}",
        markup=False, highlight=False,
    )
    if report.sequences is not None:
        q = report.sequences
        console.print(f"training sequences {q['sequences']} ({q['tokens']} tokens, {q['loss_token_share']:.1%} carry loss)",
                      markup=False, highlight=False)
    if out is not None:
        console.print(f"wrote {len(built.examples)} examples to {out}", markup=False, highlight=False)


def train_command(
    ctx: typer.Context,
    preset: Annotated[Optional[str], typer.Option(help="Preset from training/presets (default TGTWIN_TRAINING_PRESET).")] = None,
    max_steps: Annotated[Optional[int], typer.Option(help="Override the preset's step limit.")] = None,
) -> None:
    """Fine-tune an adapter now (in this process; progress in the log), evaluate it and apply the promotion gate."""
    from training.config import PresetError
    from training.run import TrainingError, run_training

    settings = state(ctx).settings

    overrides = {"max_steps": max_steps} if max_steps is not None else {}
    try:
        result = run_async(run_training(settings, preset=preset, trigger="cli", overrides=overrides))
    except (PresetError, TrainingError) as exc:
        fail(str(exc))
    console.print(f"run {result.run_id}: adapter {result.adapter_id} at {result.adapter_dir}", markup=False, highlight=False)
    _print_report(result.report)


def eval_command(
    ctx: typer.Context,
    adapter: Annotated[Optional[str], typer.Argument(help="Adapter id (default: the promoted one, else the newest).")] = None,
) -> None:
    """Print an adapter's evaluation report (held-out perplexity, style, samples, gate decision)."""
    from storage import Database, NotFound
    from storage import training as training_queries

    settings = state(ctx).settings

    async def find() -> tuple[Any, dict[str, Any] | None]:
        async with Database.open(settings.db_path) as db:
            if adapter is not None:
                chosen = await training_queries.get_adapter(db, adapter)
            else:
                chosen = await training_queries.promoted_adapter(db)
                if chosen is None:
                    adapters = await training_queries.list_adapters(db)
                    chosen = adapters[0] if adapters else None
            if chosen is None:
                return None, None
            report = None
            if chosen.run_id is not None:
                try:
                    report = (await training_queries.get_run(db, chosen.run_id)).report
                except NotFound:
                    report = None
            return chosen, report

    try:
        chosen, report = run_async(find())
    except NotFound as exc:
        fail(str(exc))
    if chosen is None:
        fail("no adapters yet; run `python main.py train` first")
    console.print(f"adapter {chosen.id} (base {chosen.base_model}, run {chosen.run_id})", markup=False, highlight=False)
    _print_report(report or {"evaluation": {"perplexity": chosen.metrics.get("perplexity", {})}})


def promote_command(ctx: typer.Context, adapter: Annotated[str, typer.Argument(help="Adapter id to serve.")]) -> None:
    """Serve this adapter (a running `main.py run` picks it up on its next start or from the panel)."""
    from storage import Database, NotFound
    from training.promotion import promote_adapter

    settings = state(ctx).settings

    async def go() -> None:
        async with Database.open(settings.db_path) as db:
            await promote_adapter(db, None, adapter, "promoted from the CLI")

    try:
        run_async(go())
    except NotFound as exc:
        fail(str(exc))
    console.print(f"promoted {adapter}", markup=False, highlight=False)


def rollback_command(ctx: typer.Context) -> None:
    """Serve what was promoted before the current adapter (or the base model)."""
    from storage import Database, InvalidValue
    from training.promotion import rollback_adapter

    settings = state(ctx).settings

    async def go() -> Any:
        async with Database.open(settings.db_path) as db:
            return await rollback_adapter(db, None)

    try:
        previous = run_async(go())
    except InvalidValue as exc:
        fail(str(exc))
    console.print(f"now serving {previous.id if previous else 'the base model'}", markup=False, highlight=False)


def _fmt(value: Any) -> str:
    return "—" if value is None else (f"{value:.3f}" if isinstance(value, float) else str(value))


def _print_report(report: dict[str, Any]) -> None:
    """The evaluation report as plain lines (message texts are the owner's own; shown on request)."""
    evaluation = report.get("evaluation", {})
    ppl = evaluation.get("perplexity", {})
    console.print(
        f"held-out perplexity: base {_fmt(ppl.get('base'))}, promoted {_fmt(ppl.get('promoted'))}, new {_fmt(ppl.get('new'))}"
        f"  ({evaluation.get('heldout_examples', '?')} examples)", markup=False, highlight=False,
    )
    fit = report.get("fit")
    if fit:
        console.print(
            f"training: {fit['steps']} steps in {fit['seconds']}s, {fit['tokens_per_second']} tokens/s, "
            f"real-token share {fit['real_token_share']:.1%}, final loss {_fmt(fit.get('final_loss'))}, "
            f"epochs covered {_fmt(fit.get('epochs_covered'))}",
            markup=False, highlight=False,
        )
    promotion = report.get("promotion")
    if promotion:
        console.print(f"gate: {'PROMOTED' if promotion['promote'] else 'not promoted'} — {promotion['reason']}", markup=False, highlight=False)
    style = evaluation.get("style") or {}
    if style:
        console.print("style (generated / real):", markup=False, highlight=False)
        for name, row in style.items():
            console.print(f"  {name:24s} {row['generated']:>8} / {row['real']:<8}", markup=False, highlight=False)
    for i, sample in enumerate(evaluation.get("samples") or [], 1):
        console.print(f"sample {i}:", markup=False, highlight=False)
        for turn in sample["context"]:
            who = "owner" if turn["role"] == "owner" else (turn.get("speaker") or "partner")
            console.print(f"  {who}: {' | '.join(turn.get('messages') or [turn.get('text', '')])}", markup=False, highlight=False)
        console.print(f"  real:      {' | '.join(sample['real'])}", markup=False, highlight=False)
        console.print(f"  generated: {' | '.join(sample['generated'])}", markup=False, highlight=False)
