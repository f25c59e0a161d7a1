"""Continual training on the `tiny` model: runs continue the previous adapter and learn a history
bigger than one run covers in order, every owner turn once before any twice (apart from the replay
share), and report coverage 1/3, 2/3, 1."""

from __future__ import annotations

import json
import math
from dataclasses import replace

from storage import coverage as coverage_queries
from storage import training as training_queries
from tests.training.histories import EXCHANGES, fact_history, seed_uniform_history, store_chat
from training.config import load_preset
from training.data.dataset import load_dataset
from training.runs.run import run_training

SESSIONS = 29  # 24 train sessions and 5 held out (the stable session hash decides)
BATCH = 2


async def test_three_runs_learn_a_history_three_times_one_run_in_order(db, tiny_settings):
    settings = tiny_settings
    await seed_uniform_history(db, SESSIONS)
    dataset = await load_dataset(db, settings)
    sequences = len(dataset.conversations)  # one short session = one training sequence
    assert sequences == 24
    replay = load_preset("tiny").replay_share
    third = sequences // 3
    # The budget in steps: run 1 has nothing to replay; later runs mix in `replay` of their sequences.
    budgets = [third // BATCH] + [math.ceil(third / (1 - replay) / BATCH)] * 2

    results, reports = [], []
    for steps in budgets:
        result = await run_training(settings, preset="tiny", trigger="test",
                                    overrides={"max_steps": steps, "batch_size": BATCH})
        results.append(result)
        reports.append((await training_queries.get_run(db, result.run_id)).report)

    shares = [r["coverage"]["share"] for r in reports]
    assert shares == [round(1 / 3, 4), round(2 / 3, 4), 1.0]
    assert [r["coverage"]["continued_from"] for r in reports] == [None, results[0].adapter_id, results[1].adapter_id]
    assert all(r["coverage"]["owner_turns"] == sequences * EXCHANGES for r in reports)
    # Continuing, not restarting: a new LoRA starts at the base model's loss (its B is zero), which
    # on these identical sequences is the first run's first loss; the later runs start where the
    # run before them ended.
    curves = [(await training_queries.get_run(db, r.run_id)).loss_curve for r in results]
    for before, after in zip(curves, curves[1:], strict=False):
        assert after[0][1] < curves[0][0][1] - 0.2
        assert abs(after[0][1] - before[-1][1]) < abs(after[0][1] - curves[0][0][1])

    # Every turn is learned new exactly once; a turn learned again is always a replay, and the
    # replays are the replay share of the later runs.
    records = await coverage_queries.learned_by(db, [r.run_id for r in results])
    new = [rec.turn for rec in records if not rec.replay]
    assert len(new) == len(set(new)) == sequences * EXCHANGES
    for result, report in zip(results[1:], reports[1:], strict=True):
        mine = [rec for rec in records if rec.run_id == result.run_id]
        replayed = [rec for rec in mine if rec.replay]
        assert report["coverage"]["replayed_turns"] == len(replayed)
        assert len(replayed) / len(mine) == replay
        earlier = {rec.turn for rec in records if rec.run_id < result.run_id}
        assert {rec.turn for rec in replayed} <= earlier


async def test_fresh_start_and_a_promotion_restart_the_chain(db, tiny_settings):
    settings = tiny_settings
    await seed_uniform_history(db, sessions=8)
    first = await run_training(settings, preset="tiny", trigger="test", overrides={"max_steps": 2, "batch_size": BATCH})
    fresh = await run_training(settings, preset="tiny", trigger="test",
                               overrides={"max_steps": 2, "batch_size": BATCH, "fresh": True})
    report = (await training_queries.get_run(db, fresh.run_id)).report["coverage"]
    assert report["continued_from"] is None and "fresh start" in report["start"]
    assert report["replayed_turns"] == 0  # nothing it continues has learned anything

    # The owner serves the first adapter again: the next run continues it, not the newest one.
    await training_queries.promote(db, first.adapter_id, "owner's choice")
    again = await run_training(settings, preset="tiny", trigger="test", overrides={"max_steps": 1, "batch_size": BATCH})
    report = (await training_queries.get_run(db, again.run_id)).report["coverage"]
    assert report["continued_from"] == first.adapter_id
    assert report["start"] == f"continues the served adapter {first.adapter_id}"


async def test_an_adapter_on_another_base_or_prompt_format_is_not_continued(db, tiny_settings):
    from model.prompt import PromptFormat
    from training.runs.continual import plan_start

    settings = tiny_settings
    await seed_uniform_history(db, sessions=8)
    first = await run_training(settings, preset="tiny", trigger="test", overrides={"max_steps": 1, "batch_size": BATCH})
    config = load_preset("tiny")
    assert (await plan_start(db, settings, config, "tiny")).adapter_id == first.adapter_id

    other_base = await plan_start(db, settings, config, "bundled:smollm2-135m")
    assert other_base.adapter_id is None and "trained on base tiny" in other_base.reason
    wider = await plan_start(db, settings, config.with_overrides(lora_r=16), "tiny")
    assert wider.adapter_id is None and "lora_r" in wider.reason

    replace(PromptFormat.load(first.adapter_dir), system_template="Chat{with_whom}.").save(first.adapter_dir)
    changed = await plan_start(db, settings, config, "tiny")
    assert changed.adapter_id is None and "prompt format differs" in changed.reason


async def test_memory_trains_into_the_format_and_toggling_it_starts_afresh(db, tiny_settings):
    """An adapter trained with memory saves `memory: true` and is served with a memory block; a run
    with memory turned off does not continue it, and one with memory on again does."""
    from bot.context import chat_dialogue
    from model.adapter_format import serving_format
    from model.memory_block import MEMORY_HEADER
    from model.prompt import PromptFormat
    from training.runs.continual import plan_start

    settings = tiny_settings
    await store_chat(db, fact_history())
    first = await run_training(settings, preset="tiny", trigger="test", overrides={"max_steps": 2})
    assert json.loads((first.adapter_dir / "prompt_format.json").read_text())["memory"] is True
    assert first.report.data.memory_conversations > 0  # its rows carried memory
    fmt = serving_format(first.adapter_dir, lambda: PromptFormat.for_tokenizer(None))
    dialogue = await chat_dialogue(db, settings, 1, "and how is Rex these days?")
    block = fmt.memory_text(dialogue)
    assert block.startswith(MEMORY_HEADER) and "Rex" in block and block in fmt.render_prompt(dialogue)

    off = settings.model_copy(update={"memory_enabled": False})
    second = await run_training(off, preset="tiny", trigger="test", overrides={"max_steps": 1})
    coverage = (await training_queries.get_run(db, second.run_id)).report["coverage"]
    assert coverage["continued_from"] is None
    assert "trained with memory and this run has no memory" in coverage["start"]
    assert not PromptFormat.load(second.adapter_dir).memory
    assert second.report.data.memory_conversations == 0
    assert first.promoted  # the served adapter, which a run with memory on again continues
    again = await plan_start(db, settings, load_preset("tiny"), "tiny")
    assert again.adapter_id == first.adapter_id
