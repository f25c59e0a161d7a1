"""The one training entry point, used by the CLI, the REST API (through the controller's worker) and
the schedule: `run_training(settings, preset=..., trigger=...)`.

Three layers, litgpt-style:
- `run_training` (setup): config, run row, failure recording;
- `main`: dataset, preference pairs and where to start (training/runs/continual.py: the adapter to
  continue) → base model → `fit` (training/fitting/fit.py) → preference stage (training/fitting/preference.py) →
  evaluation → adapter directory → gate → promotion, with what the run learned (coverage);
- `_finish`: save, evaluate, gate, version and promote (main process only).

The adapter is written to a temporary directory and renamed into place only when complete, and it
is promoted (the only step that changes what is served) last: a failed or killed run leaves a
temporary directory at most, never a half adapter in the list or a changed served model. Under a
server (the controller's worker) the run only records the gate's decision and the server promotes
(swap, then record); the CLI's run records the promotion itself and a running server swaps to it.

A run holds the run lock (`training.runs.lock`) while it trains: taken here when this call creates
the run row, by the controller (and handed to its worker) otherwise. Its adapter directory and
checkpoints are private (0700).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from settings import Settings
from storage import Database, dataset_queries
from storage import preference as preference_queries
from storage import training as training_queries
from storage.db import make_private_dir
from training.config import TrainConfig, load_preset
from training.data.dataset import BuiltDataset, DatasetOptions, load_dataset
from training.data.preference_pairs import PreferencePair, load_preference_pairs
from training.errors import NoTrainingData, PeerFailed, TrainingError
from training.evaluation.evaluate import EvalInputs, EvalSetup, Reference, evaluate_adapter, lexicon_for
from training.evaluation.memory_recall import FactHistory
from training.evaluation.report import EvaluationReport
from training.fitting import distributed
from training.fitting.distributed import Rank
from training.fitting.fit import clear_checkpoints
from training.fitting.preference import PreferenceStageResult, run_preference_stage
from training.runs.continual import (
    ContinualStart,
    TrainedAdapter,
    plan_start,
    record_learning,
    run_learning,
    train_adapter,
)
from training.runs.lock import hold_run_lock
from training.runs.promotion import Margins, PromotionDecision, Scores, ServedElsewhere, decide, promote_run_adapter
from training.runs.reconcile import forget_run_process, pid_alive, record_run_process
from training.runs.report import ContinualSummary, FitSummary, RunReport
from training.runs.serving_exports import export_for_serving, prune_exports

log = logging.getLogger(__name__)

SINGLE_PROCESS = Rank()
TRAIN_PROGRESS_SHARE = 0.85  # progress 0..0.85 is training; evaluation fills the rest

__all__ = ["NoTrainingData", "PeerFailed", "RunResult", "TrainingError", "run_training"]


@dataclass(slots=True)
class RunResult:
    run_id: int
    adapter_id: str
    adapter_dir: Path
    promoted: bool
    report: RunReport


# --------------------------------------------------------------------------- setup

async def run_training(
    settings: Settings,
    *,
    preset: str | None = None,
    trigger: str = "cli",
    run_id: int | None = None,
    overrides: dict[str, Any] | None = None,
    server_pid: int | None = None,
) -> RunResult:
    """Train, evaluate, version and gate one adapter. Creates the run row, holding the run lock
    (`training.runs.lock.RunAlreadyRunning` while another run holds it), unless `run_id` is given
    (the controller created it and holds the lock for this process); any failure marks the run
    failed and is re-raised. `server_pid`: the server that promotes the adapter after this run
    (see `_finish`); None = this call records the promotion.

    Rank-aware (see training/fitting/distributed.py): started N times by torchrun / accelerate, the main
    process does all of the above and the others only train (the preference stage runs in
    single-process runs only, see `prefer`); every process returns the same result or raises
    (`PeerFailed` on the others when the main process failed)."""
    from_settings: dict[str, Any] = {}
    if settings.preference_min_pairs:
        from_settings["preference_min_pairs"] = settings.preference_min_pairs
    if settings.train_fresh:
        from_settings["fresh"] = True
    config = load_preset(preset or settings.training_preset).with_overrides(**from_settings, **(overrides or {}))
    rank = distributed.current_rank()
    distributed.setup(rank)
    try:
        if not rank.is_main:
            return await follow(settings, config, rank)
        async with Database.open(settings.db_path) as db, contextlib.AsyncExitStack() as held:
            if run_id is None:
                lock = held.enter_context(hold_run_lock(settings))
                owner_messages = await dataset_queries.owner_message_count(db)
                run_id = (await training_queries.create_run(db, trigger, config.name, owner_messages)).id
                lock.note(run_id)
            else:
                await training_queries.update_run(db, run_id, status="running")
            record_run_process(settings, run_id)
            held.callback(forget_run_process, settings, run_id)
            try:
                return await main(settings, db, run_id, config, rank, server_pid)
            except BaseException as exc:
                error = distributed.stop_reason() or f"{type(exc).__name__}: {exc}"
                await training_queries.update_run(db, run_id, status="failed", error=error[:2000])
                raise
    finally:
        distributed.teardown(rank)


# --------------------------------------------------------------------------- main

class RunRecorder:
    """Writes progress and the loss curve into the run row from the training thread, and logs each
    step (the CLI shows the log; the worker's log file is `logs/training-run-N.log`)."""

    def __init__(self, db: Database, run_id: int, loop: asyncio.AbstractEventLoop) -> None:
        self.db, self.run_id, self.loop = db, run_id, loop
        self.loss_curve: list[list[float]] = []
        self._pending: list[Any] = []

    def __call__(self, step: int, total: int, loss: float | None) -> None:
        if loss is not None:
            self.loss_curve.append([step, round(loss, 5)])
        progress = TRAIN_PROGRESS_SHARE * step / total if total else 0.0
        self.set_progress(progress, list(self.loss_curve))
        log.info("run %s: step %s/%s%s", self.run_id, step, total, f" loss {loss:.4f}" if loss is not None else "")

    def set_progress(self, progress: float, loss_curve: list[list[float]] | None = None) -> None:
        coro = training_queries.update_run(self.db, self.run_id, progress=round(progress, 4), loss_curve=loss_curve)
        self._pending.append(asyncio.run_coroutine_threadsafe(coro, self.loop))

    async def flush(self) -> None:
        pending, self._pending = self._pending, []
        for future in pending:
            await asyncio.wrap_future(future)


@dataclass(frozen=True, slots=True)
class RunPlan:
    """What the main process decided before training; shared with the other processes."""

    run_id: int
    adapter_id: str
    base_spec: str
    dataset: BuiltDataset
    reference: Reference | None
    pairs: tuple[PreferencePair, ...] = ()
    """The owner's preference pairs (every one: the stage runs on the new adapter's SFT weights);
    the preference stage decides whether they are enough to run."""
    start: ContinualStart = field(default_factory=lambda: ContinualStart.base("fresh start"))
    """The adapter the run continues and what it has learned (`training.runs.continual.plan_start`)."""


async def main(settings: Settings, db: Database, run_id: int, config: TrainConfig, rank: Rank = SINGLE_PROCESS,
               server_pid: int | None = None) -> RunResult:
    """The main process's part of a run. Failures before and after training are shared with the
    other processes (they wait at `share`); one during training ends this process, and the launcher
    stops the others (they are inside the trainer's collectives)."""
    try:
        plan = await _plan(settings, db, run_id, config)
    except BaseException as exc:
        distributed.share(rank, failure=exc)
        raise
    distributed.share(rank, plan)
    recorder = RunRecorder(db, run_id, asyncio.get_running_loop())
    staging = settings.adapters_dir / f".tmp-{plan.adapter_id}"
    dataset = plan.dataset
    log.info("run %s: %s train / %s held-out examples from %s chats (memory for %s of %s training conversations), "
             "base %s, preset %s, %s process(es)", run_id, dataset.stats.train, dataset.stats.heldout,
             dataset.stats.chats, dataset.stats.memory_conversations, len(dataset.conversations), plan.base_spec,
             config.name, rank.world_size)
    try:
        trained = await asyncio.to_thread(train_adapter, settings, config, plan.base_spec, dataset, plan.start,
                                          recorder)
    except BaseException:
        await recorder.flush()
        raise
    try:
        result = await _finish(settings, db, config, plan, trained, staging, recorder, rank, server_pid)
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)  # checkpoints stay, so a rerun resumes
        if not isinstance(exc, distributed.Terminated):
            distributed.share(rank, failure=exc)
        raise
    distributed.share(rank, result)
    return result


async def _plan(settings: Settings, db: Database, run_id: int, config: TrainConfig) -> RunPlan:
    dataset = await load_dataset(db, settings)
    if not dataset.train:
        raise NoTrainingData("no training examples: import or harvest chats with owner replies first")
    base_spec = config.base_model or settings.base_model
    reference = await _served_reference(db, base_spec)
    adapter_id = time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + f"-r{run_id}"
    pairs = tuple(await load_preference_pairs(db, settings))
    start = await plan_start(db, settings, config, base_spec)
    return RunPlan(run_id, adapter_id, base_spec, dataset, reference, pairs, start)


async def _finish(
    settings: Settings, db: Database, config: TrainConfig, plan: RunPlan, trained: TrainedAdapter,
    staging: Path, recorder: RunRecorder, rank: Rank, server_pid: int | None,
) -> RunResult:
    """Main process only: the preference stage, then save, evaluate, gate, version and promote the
    trained adapter (and mark the pairs the stage used). The promotion is recorded here unless the
    server `server_pid` is alive to do it: it swaps its model first, then records (the controller);
    a worker whose server is gone records it for the next server."""
    run_id, base_spec = plan.run_id, plan.base_spec
    try:
        stage = await asyncio.to_thread(prefer, config, plan, trained, rank)
        report = await asyncio.to_thread(
            save_and_evaluate, settings, config, base_spec, plan.dataset, plan.reference, staging, recorder, run_id,
            trained,
        )
    finally:
        await recorder.flush()
    report = replace(report, preference=stage)
    decision = gate(report.evaluation, plan.reference, Margins.from_settings(settings),
                    servable=base_spec == settings.base_model)
    learning = run_learning(run_id, plan.adapter_id, plan.start, trained, plan.dataset, settings, config)
    report = replace(report, world_size=rank.world_size, coverage=ContinualSummary.of(learning))
    report = report.with_promotion(decision)
    final = settings.adapters_dir / plan.adapter_id
    _write_meta(staging, report)
    if decision.promote:
        await asyncio.to_thread(export_for_serving, settings, staging)  # usually built by the evaluation already
    else:
        from model.ct2_export import prune_exports as remove_exports

        remove_exports([staging])  # the evaluation generated on it; nothing serves it now
    staging.rename(final)  # atomic on one file system: the adapter appears complete or not at all
    previous = await training_queries.promoted_adapter(db) if decision.promote else None
    record_promotion = decision.promote and (server_pid is None or not pid_alive(server_pid))
    async with db.atomic():
        await training_queries.add_adapter(db, plan.adapter_id, str(final), base_spec, run_id,
                                          report.adapter_metrics().to_json())
        await training_queries.update_run(db, run_id, adapter_id=plan.adapter_id, report=report.to_json(),
                                          loss_curve=recorder.loss_curve, progress=1.0)
        if record_promotion:  # no model here: checked, recorded, and swapped by a running server
            await promote_run_adapter(db, ServedElsewhere(settings.base_model), run_id, plan.adapter_id, decision)
        if stage.ran:
            await preference_queries.mark_pairs_used(db, [p.draft_id for p in plan.pairs], run_id)
        await record_learning(db, run_id, learning)
        await training_queries.update_run(db, run_id, status="succeeded")
    clear_checkpoints(settings, config)
    if decision.promote:
        await prune_exports(db, keep={plan.adapter_id, previous.id if previous else None})
    promoted = "promoted" if record_promotion else "promoted by the gate, for its server to serve"
    log.info("run %s: adapter %s %s (%s)", run_id, plan.adapter_id,
             promoted if decision.promote else "kept, not promoted", decision.reason)
    return RunResult(run_id, plan.adapter_id, final, decision.promote, report)


async def follow(settings: Settings, config: TrainConfig, rank: Rank) -> RunResult:
    """A non-main process: receive the plan, train its share, wait for the main process's outcome.
    It never touches the database, the adapters or the promotion."""
    plan = distributed.share(rank)
    if isinstance(plan, distributed.Failure):
        raise PeerFailed(f"the main process failed before training: {plan.message}")
    log.info("run %s: process %s/%s training", plan.run_id, rank.rank, rank.world_size)
    await asyncio.to_thread(train_adapter, settings, config, plan.base_spec, plan.dataset, plan.start, None)
    outcome = distributed.share(rank)
    if isinstance(outcome, distributed.Failure):
        raise PeerFailed(f"run {plan.run_id} failed on the main process: {outcome.message}")
    return outcome


async def _served_reference(db: Database, base_spec: str) -> Reference | None:
    """The promoted adapter, when it was trained on the same base (else it can't be compared)."""
    promoted = await training_queries.promoted_adapter(db)
    if promoted is None or promoted.base_model != base_spec or not Path(promoted.path).is_dir():
        return None
    return Reference(promoted.id, Path(promoted.path))


def gate(
    evaluation: EvaluationReport, reference: Reference | None, margins: Margins, servable: bool
) -> PromotionDecision:
    """Compare with what is served now, on the same held-out contexts: the promoted adapter if it
    could be scored, else the base model (see `training.runs.promotion.decide` for the criteria)."""
    ppl, hits, voice = evaluation.perplexity, evaluation.hits_at_1, evaluation.reference
    if reference is not None and ppl.promoted is not None:
        served = Scores(ppl.promoted, None, None, hits.promoted)
        label = f"adapter {reference.adapter_id}"
    else:
        served, label = Scores(ppl.base, None, None, hits.base), "base model"
    if voice is not None and voice.label == label:  # the reference generated on the same contexts
        served = replace(served, blind_judge_accuracy=voice.blind_judge_accuracy, style_distance=voice.style_distance)
    new = Scores(ppl.new, evaluation.blind_judge_accuracy, evaluation.style_distance, hits.new)
    return decide(new, served, margins, label, servable=servable, contexts=evaluation.generated)


def prefer(config: TrainConfig, plan: RunPlan, trained: TrainedAdapter, rank: Rank) -> PreferenceStageResult:
    """The preference (DPO) stage on the freshly trained adapter, in place, before it is saved, so
    the adapter saved, evaluated and gated is the one after it (main process, in a thread).

    Multi-process runs skip it: the processes would all have to join trl's DDP trainer again (the
    others wait for the main process's outcome at a collective, and a trainer on the main process
    alone would block on collectives nobody joins). Single-process runs (the CPU default) run it."""
    if rank.distributed:
        return PreferenceStageResult.skipped(
            f"multi-process run ({rank.world_size} processes): the preference stage runs in single-process runs only")

    def on_step(step: int, total: int, loss: float | None) -> None:
        shown = f" loss {loss:.4f}" if loss is not None else ""
        log.info("run %s: preference step %s/%s%s", plan.run_id, step, total, shown)

    return run_preference_stage(trained.model, trained.tokenizer, trained.fmt, plan.pairs, config, on_step)


def save_and_evaluate(
    settings: Settings,
    config: TrainConfig,
    base_spec: str,
    dataset: BuiltDataset,
    reference: Reference | None,
    staging: Path,
    recorder: RunRecorder,
    run_id: int,
    trained: TrainedAdapter,
) -> RunReport:
    """The heavy, synchronous part after training (runs in a thread, main process only): save to
    `staging`, evaluate."""
    from model.generation import GenerationSettings

    peft_model, tokenizer, fmt, rows = trained.model, trained.tokenizer, trained.fmt, trained.rows

    if staging.exists():
        shutil.rmtree(staging)
    make_private_dir(settings.adapters_dir)
    staging.mkdir(mode=0o700)  # renamed into place as it is: the adapter dir is private
    peft_model.save_pretrained(str(staging))
    fmt.save(staging)
    recorder.set_progress(TRAIN_PROGRESS_SHARE + 0.02)

    generation = GenerationSettings.from_settings(settings)
    if config.eval_max_new_tokens is not None:
        generation = replace(generation, max_new_tokens=config.eval_max_new_tokens)
    options = DatasetOptions.from_settings(settings)
    facts = FactHistory.of(dataset.history, options.gap_seconds, options.keep_media)
    inputs = EvalInputs(dataset.heldout, lexicon_for(dataset.train), [e.reply.messages for e in dataset.examples],
                        settings.reply_candidates, history=facts)
    evaluation = evaluate_adapter(peft_model, tokenizer, fmt, inputs, config, generation, reference,
                                  EvalSetup.from_settings(settings, base_spec), staging)
    return RunReport(
        run_id=run_id,
        adapter_base_model=base_spec,
        preset=config,
        data=dataset.stats,
        fit=FitSummary.of(trained.fit, len(rows), distributed.current_rank().world_size),
        evaluation=evaluation,
        sequences=trained.sequences,
    )


def _write_meta(staging: Path, report: RunReport) -> None:
    meta = report.meta(created_at=int(time.time()))
    (staging / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
