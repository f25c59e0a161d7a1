"""The preference (DPO) stage inside a real run on the `tiny` model: drafts the owner edited become
pairs, the stage runs after fine-tuning, its result is in the report, meta.json and `eval --json`,
and the pairs are marked used; too few pairs and the run says why it skipped the stage."""

from __future__ import annotations

import json

from storage import replies as reply_queries
from storage import training as training_queries
from testdata.seed_chat import seed_chat
from training.data.preference_pairs import preference_pair_counts
from training.runs.report import AdapterMetrics, eval_json, stored_report
from training.runs.run import run_training

# The owner's edits have one unambiguous style: lowercase with ")"; the suggestions are formal.
SUGGESTED = ["Хорошо. Договорились.", "Да. Скоро буду.", "Спасибо. Хорошо.", "Ok. Sure.", "Yes. On my way."]
SENT = ["ок)", "да, скоро буду)", "ахаха, да)", "ok, sure)", "on my way)"]
PAIRS = 10
# Few, cheap steps: the run is about the wiring; test_preference_stage shows the accuracy moving.
FAST = {"max_steps": 2, "preference_steps": 3, "preference_learning_rate": 0.01}


async def seed_edited_drafts(db, n: int = PAIRS) -> None:
    """`n` drafts answering partner messages of `seed_chat`'s chat, each sent after the owner's edit."""
    for i in range(n):
        draft = await reply_queries.create_draft(db, 1, SUGGESTED[i % len(SUGGESTED)], trigger_message_id=2 * i)
        await reply_queries.close_draft(db, draft.id, "sent", sent_text=SENT[i % len(SENT)])


async def test_run_with_enough_pairs_runs_the_preference_stage_and_marks_them_used(db, tiny_settings):
    await seed_chat(db, exchanges=20)
    await seed_edited_drafts(db)
    assert (await preference_pair_counts(db, tiny_settings)).unused == PAIRS

    # TGTWIN_PREFERENCE_MIN_PAIRS above the pairs there are: the stage is skipped, and says why
    strict = tiny_settings.model_copy(update={"preference_min_pairs": PAIRS + 1})
    skipped = await run_training(strict, preset="tiny", trigger="test", overrides={"max_steps": 2})
    stage = (await training_queries.get_run(db, skipped.run_id)).report["preference"]
    assert stage["ran"] is False and stage["reason"] == f"{PAIRS} preference pairs, fewer than {PAIRS + 1}"
    assert stage["accuracy_before"] is None and stage["steps"] == 0
    assert (await preference_pair_counts(db, tiny_settings)).unused == PAIRS  # nothing learned from them

    result = await run_training(tiny_settings, preset="tiny", trigger="test",
                                overrides={**FAST, "preference_min_pairs": 4})
    run = await training_queries.get_run(db, result.run_id)
    assert run.status == "succeeded"
    stage = run.report["preference"]
    assert stage["ran"] is True and stage["steps"] == FAST["preference_steps"]
    assert (stage["pairs_train"], stage["pairs_heldout"]) == (8, 2)
    assert 0 <= stage["accuracy_before"] <= 1 and 0 <= stage["accuracy_after"] <= 1
    assert stage["seconds"] > 0 and stage["final_loss"] is not None
    meta = json.loads((result.adapter_dir / "meta.json").read_text())
    assert meta["preference"] == stage
    adapter = await training_queries.get_adapter(db, result.adapter_id)
    shown = eval_json(adapter.id, stored_report(run.report), AdapterMetrics.from_json(adapter.metrics))
    assert shown["preference"] == stage
    assert not (result.adapter_dir / "ref").exists()  # the saved adapter is the trained one alone
    counts = await preference_pair_counts(db, tiny_settings)
    assert (counts.total, counts.unused) == (PAIRS, 0)


def test_a_multi_process_run_skips_the_stage_and_says_why() -> None:
    from training.config import load_preset
    from training.data.dataset import BuiltDataset, DatasetStats
    from training.fitting.distributed import Rank
    from training.runs.run import RunPlan, prefer

    plan = RunPlan(1, "a1", "tiny", BuiltDataset([], DatasetStats()), None, pairs=())
    # The stage never starts, so it needs no trained adapter (the torchrun test runs this end to end).
    stage = prefer(load_preset("tiny"), plan, None, Rank(0, 0, 2))  # type: ignore[arg-type]
    assert not stage.ran and stage.reason.startswith("multi-process run (2 processes)")
