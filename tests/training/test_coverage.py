"""Coverage against the data as it is now (edits, deletions, new messages), its estimate, and the
order a run trains in; no model is trained here."""

from __future__ import annotations

import asyncio
import json
import math

from storage import coverage as coverage_queries
from storage import messages as message_queries
from storage import training as training_queries
from storage.coverage import LearnedTurn
from tests.training.histories import seed_uniform_history, uniform_session
from training.data.coverage import Coverage, Learned, cached_coverage, current_coverage, owner_turn_keys
from training.data.curriculum import PlannedSequence, consumed, interleave, training_order
from training.data.dataset import load_dataset
from training.data.sequences import Conversation, TrainingSequence
from training.runs.report import ContinualSummary


async def _adapter_that_learned(db, settings, keys, run_report=None, owner_messages=None) -> int:
    """A finished run whose adapter learned `keys` (what `training.runs.run` records, without training)."""
    run = await training_queries.create_run(db, "test", "tiny", owner_messages)
    await training_queries.update_run(db, run.id, status="succeeded", report=run_report)
    await training_queries.add_adapter(db, f"a{run.id}", str(settings.adapters_dir / f"a{run.id}"), "tiny", run.id)
    await coverage_queries.record_run(db, run.id, None, None, [LearnedTurn(run.id, k, False) for k in keys])
    return run.id


async def test_edits_deletions_and_new_messages_change_coverage(db, settings):
    await seed_uniform_history(db, sessions=10)
    keys = owner_turn_keys((await load_dataset(db, settings)).conversations)
    assert len(keys) == 27  # 9 train sessions of 3 owner turns (one session is held out)
    await _adapter_that_learned(db, settings, keys[:18])
    coverage = await current_coverage(db, settings)
    assert (coverage.owner_turns, coverage.learned, coverage.learned_last_run) == (27, 18, 18)
    assert coverage.adapter_id is not None and coverage.share == round(2 / 3, 4)

    learned = keys[0]
    edited = await message_queries.get_message(db, learned.chat_id, learned.message_id)
    edited.text, edited.edited_at = "fine, and you?", edited.date + 5
    await message_queries.upsert_messages(db, [edited], "telegram")
    after_edit = await current_coverage(db, settings)
    assert (after_edit.owner_turns, after_edit.learned) == (27, 17)  # an edited turn is not learned any more

    await message_queries.mark_deleted(db, keys[1].chat_id, [keys[1].message_id])
    after_delete = await current_coverage(db, settings)
    assert (after_delete.owner_turns, after_delete.learned) == (26, 16)  # a deleted one drops out

    await message_queries.insert_messages(db, uniform_session(10), "export")
    grown = await cached_coverage(db, settings)
    assert (grown.owner_turns, grown.learned) == (29, 16)  # a new session: not learned yet
    assert (await cached_coverage(db, settings)) == grown


async def test_the_estimate_uses_the_measured_throughput(db, settings):
    from training.config import load_preset

    await seed_uniform_history(db, sessions=10)
    keys = owner_turn_keys((await load_dataset(db, settings)).conversations)
    report = {"coverage": {"tokens_per_turn": 40.0}, "fit": {"tokens_per_second": 20.0}}
    await _adapter_that_learned(db, settings, keys[:7], report)
    estimate = (await current_coverage(db, settings)).estimate
    default = load_preset(settings.training_preset)
    seconds = 20 * 40.0 / 20.0 / (1 - default.replay_share)
    assert estimate is not None and estimate.remaining_turns == 20 and estimate.tokens == 800
    assert estimate.hours == round(seconds / 3600, 2)
    assert estimate.runs == math.ceil(seconds / (default.time_budget_minutes * 60))


def _planned(conversation: int, key: int, replay: bool, length: int = 5) -> PlannedSequence:
    from storage.coverage import TurnKey

    row = {"input_ids": [0] * length, "labels": [0] * length}
    return PlannedSequence(TrainingSequence(row, conversation, (0,)), (TurnKey(1, key, "h"),), replay)


def test_new_sequences_come_first_newest_first_with_replays_mixed_in():
    from model.dialogue import Dialogue, Turn

    conversations = [Conversation(1, Dialogue((Turn("owner", ("x",), None, date),))) for date in range(10)]
    new = [_planned(c, c, False) for c in range(8)]
    old = [_planned(c, c, True) for c in (8, 9)]
    learned = Learned({o.turns[0]: (1, 1) for o in old}, 1)
    order = training_order([*old, *new], conversations, learned, replay_share=0.2, batch_size=1)
    assert [p.sequence.conversation for p in order if not p.replay] == list(range(7, -1, -1))  # newest first
    assert [p.replay for p in order] == [False] * 4 + [True] + [False] * 4 + [True]  # 20 %, spread evenly
    assert consumed(order, steps=3, per_step=2) == order[:6]
    tail = training_order([*old, *new], conversations, learned, replay_share=0.0, batch_size=1)
    assert [p.replay for p in tail] == [False] * 8 + [True] * 2  # no share: replays only after every new one
    assert interleave([], old) == old


def test_memory_drills_come_forward_at_their_share_pass_by_pass_until_they_run_out():
    from dataclasses import replace

    from model.dialogue import Dialogue, Turn

    conversations = [Conversation(1, Dialogue((Turn("owner", ("x",), None, date),))) for date in range(10)]
    new = [_planned(c, c, False) for c in range(8)]
    drills = [replace(p, sequence=replace(p.sequence, drill=k), teaches_memory=True)
              for k in (2, 1) for p in (_planned(1, 1, False), _planned(4, 4, False))]
    order = training_order([*new, *drills], conversations, Learned({}, None), replay_share=0.2, batch_size=1,
                           memory_share=0.5)
    # Newest first (7..0), the drills mixed in 1:1 from the front: first passes, then second ones.
    assert [(p.sequence.conversation, p.sequence.drill) for p in order] == [
        (7, 0), (4, 1), (6, 0), (1, 1), (5, 0), (4, 2), (4, 0), (1, 2), (3, 0), (2, 0), (1, 0), (0, 0)]
    as_is = training_order(new, conversations, Learned({}, None), replay_share=0.2, batch_size=1, memory_share=0.5)
    assert [p.sequence.conversation for p in as_is] == list(range(7, -1, -1))


def test_batches_of_similar_length_keep_the_order_of_their_earliest_sequence():
    from training.data.curriculum import batch_by_length

    lengths = [3, 9, 4, 8, 2, 9]
    order = [_planned(i, i, False, length) for i, length in enumerate(lengths)]
    batched = batch_by_length(order, batch_size=2)
    pairs = [[p.sequence.conversation for p in batched[i:i + 2]] for i in range(0, 6, 2)]
    assert pairs == [[0, 4], [1, 5], [2, 3]]  # lengths (3, 2), (9, 9), (4, 8): batch 1 holds sequence 0
    assert sorted(p.sequence.conversation for p in batched) == list(range(6))


async def test_the_schedule_runs_until_coverage_is_full(db, settings):
    from training.runs.schedule import retrain_tick

    class Controller:
        def is_running(self) -> bool:
            return False

        async def start_run(self, trigger: str, preset: str | None = None) -> int:
            return 99

    settings = settings.model_copy(update={"retrain_min_new_messages": 5})
    await seed_uniform_history(db, sessions=10)
    keys = owner_turn_keys((await load_dataset(db, settings)).conversations)
    await _adapter_that_learned(db, settings, keys[:20], owner_messages=30)  # no new messages since

    started = await retrain_tick(settings, Controller())
    assert started.started and started.reason == "7 owner turns not yet learned"
    await _adapter_that_learned(db, settings, keys, owner_messages=30)
    skipped = await retrain_tick(settings, Controller())
    assert not skipped.started and "0 owner turns not yet learned" in skipped.reason


def test_dataset_status_and_eval_json_carry_coverage(settings, monkeypatch):
    from typer.testing import CliRunner

    from cli.app import app
    from storage import Database

    monkeypatch.setenv("TGTWIN_BASE_MODEL", "tiny")  # its tokenizer builds in a moment
    learning = ContinualSummary(None, "fresh start", 20, 20, 20, 0, 40.0,
                                Coverage("a1", owner_turns=27, learned=20, learned_last_run=20, replayed_last_run=0))
    run_report = {"coverage": learning.to_json(), "fit": {"tokens_per_second": 20.0}}

    async def seed() -> int:
        async with Database.open(settings.db_path) as db:
            await seed_uniform_history(db, sessions=10)
            keys = owner_turn_keys((await load_dataset(db, settings)).conversations)
            return await _adapter_that_learned(db, settings, keys[:20], run_report)

    run_id = asyncio.run(seed())

    def invoke(*args: str) -> dict:
        result = CliRunner().invoke(app, ["--data-dir", str(settings.data_dir), *args, "--json"])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout.strip().splitlines()[-1])

    for shown in (invoke("dataset")["coverage"], invoke("status")["coverage"]):
        assert (shown["owner_turns"], shown["learned"], shown["adapter_id"]) == (27, 20, f"a{run_id}")
        assert shown["share"] == round(20 / 27, 4) and shown["estimate"]["remaining_turns"] == 7
    assert invoke("eval", f"a{run_id}")["coverage"] == learning.to_json()  # as the run reported it
    text = CliRunner().invoke(app, ["--data-dir", str(settings.data_dir), "status"]).output
    assert "74% of 27 owner turns learned at least once" in " ".join(text.split())
