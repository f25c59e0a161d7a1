"""The controller runs one worker subprocess at a time and promotes what its gate promoted (swap,
then record); the schedule skips or starts runs."""

from __future__ import annotations

import asyncio

import pytest

from model.service import AdapterError
from storage import ChatRow, MessageRow
from storage import chats as chat_queries
from storage import messages as message_queries
from storage import training as training_queries
from training.runs.controller import RunAlreadyRunning, TrainingController
from training.runs.schedule import RetrainSchedule, build_trigger, retrain_tick

FAKE = "tests.training.fake_worker"


async def _promoted_id(db):
    adapter = await training_queries.promoted_adapter(db)
    return None if adapter is None else adapter.id


async def _seed_served_adapter(db, settings):
    await training_queries.add_adapter(db, "served", str(settings.adapters_dir / "served"), "tiny", None)
    await training_queries.promote(db, "served", "test")


class SwappingModel:
    """The server's live model, as the controller sees it: records swaps, or cannot load anything."""

    def __init__(self, db, broken: bool = False) -> None:
        self.db, self.broken = db, broken
        self.swaps: list[tuple[str | None, str | None]] = []  # (adapter dir, promoted id at the time)

    async def swap_adapter(self, adapter_dir):
        if self.broken:
            raise AdapterError(f"cannot load adapter {adapter_dir}")
        self.swaps.append((adapter_dir, await _promoted_id(self.db)))


async def test_a_crashed_run_fails_and_changes_nothing_served(db, settings, monkeypatch):
    monkeypatch.setenv("FAKE_WORKER_MODE", "crash")
    await _seed_served_adapter(db, settings)
    model = SwappingModel(db)
    controller = TrainingController(settings, model, worker_module=FAKE)
    run_id = await controller.start_run("test", preset="tiny")
    await asyncio.wait_for(controller.wait(), 30)
    run = await training_queries.get_run(db, run_id)
    assert run.status == "failed" and "code 3" in (run.error or "")
    assert await _promoted_id(db) == "served" and model.swaps == []
    assert not controller.is_running()


async def test_runs_never_overlap_and_stop_kills_the_worker(db, settings, monkeypatch):
    monkeypatch.setenv("FAKE_WORKER_MODE", "hang")
    await _seed_served_adapter(db, settings)
    async with TrainingController(settings, worker_module=FAKE) as controller:
        run_id = await controller.start_run("test", preset="tiny")
        assert controller.is_running()
        with pytest.raises(RunAlreadyRunning):
            await controller.start_run("test", preset="tiny")
    # leaving the context stopped the worker mid-run
    run = await training_queries.get_run(db, run_id)
    assert run.status == "failed" and not controller.is_running()
    assert await _promoted_id(db) == "served"
    assert len(await training_queries.list_runs(db)) == 1


async def test_a_promoted_run_makes_the_model_swap_then_records_it(db, settings, monkeypatch):
    monkeypatch.setenv("FAKE_WORKER_MODE", "finish")
    await _seed_served_adapter(db, settings)
    model = SwappingModel(db)
    controller = TrainingController(settings, model, worker_module=FAKE)
    run_id = await controller.start_run("test", preset="tiny")
    await asyncio.wait_for(controller.wait(), 30)
    assert (await training_queries.get_run(db, run_id)).status == "succeeded"
    # the model swapped while storage still named the old adapter; the record followed
    assert model.swaps == [(str(settings.adapters_dir / f"fake-r{run_id}"), "served")]
    assert await _promoted_id(db) == f"fake-r{run_id}"


async def test_a_failed_swap_leaves_the_promoted_adapter_unchanged(db, settings, monkeypatch):
    monkeypatch.setenv("FAKE_WORKER_MODE", "finish")
    await _seed_served_adapter(db, settings)
    controller = TrainingController(settings, SwappingModel(db, broken=True), worker_module=FAKE)
    run_id = await controller.start_run("test", preset="tiny")
    await asyncio.wait_for(controller.wait(), 30)
    run = await training_queries.get_run(db, run_id)
    assert run.status == "succeeded" and run.adapter_id == f"fake-r{run_id}"  # kept, listed, not served
    assert run.error.startswith(f"not served: the model could not load adapter fake-r{run_id}")
    assert await _promoted_id(db) == "served"


class FakeController:
    def __init__(self, running: bool = False) -> None:
        self.running = running
        self.started: list[str] = []

    def is_running(self) -> bool:
        return self.running

    async def start_run(self, trigger: str, preset: str | None = None) -> int:
        self.started.append(trigger)
        return 99


async def _add_owner_messages(db, n: int, start: int = 0) -> None:
    await chat_queries.upsert_chats(db, [ChatRow(1, "private", "Anna")])
    rows = [MessageRow(1, start + i, None, None, True, 1000 + start + i, f"m{i}") for i in range(n)]
    await message_queries.insert_messages(db, rows, "export")


async def test_schedule_skips_with_too_few_new_messages_then_starts(db, settings):
    settings = settings.model_copy(update={"retrain_min_new_messages": 5})
    await _add_owner_messages(db, 3)
    controller = FakeController()
    outcome = await retrain_tick(settings, controller)
    assert not outcome.started and "3 new owner messages" in outcome.reason
    skipped = await training_queries.get_run(db, outcome.run_id)
    assert skipped.status == "skipped" and skipped.finished_at is not None and controller.started == []

    # a successful run at 3 owner messages is the new baseline
    done = await training_queries.create_run(db, "cli", "tiny", owner_messages=3)
    await training_queries.update_run(db, done.id, status="succeeded")
    await _add_owner_messages(db, 4, start=100)
    assert not (await retrain_tick(settings, controller)).started
    await _add_owner_messages(db, 1, start=200)
    outcome = await retrain_tick(settings, controller)
    assert outcome.started and outcome.run_id == 99 and controller.started == ["schedule"]


async def test_schedule_never_overlaps_a_running_run(db, settings):
    settings = settings.model_copy(update={"retrain_min_new_messages": 0})
    controller = FakeController(running=True)
    outcome = await retrain_tick(settings, controller)
    assert not outcome.started and "in progress" in outcome.reason and controller.started == []


async def test_trigger_from_settings_and_schedule_lifecycle(settings):
    assert build_trigger(settings) is None
    cron = build_trigger(settings.model_copy(update={"retrain_cron": "0 4 * * *"}))
    assert type(cron).__name__ == "CronTrigger"
    hourly = settings.model_copy(update={"retrain_interval_hours": 1.0})
    assert type(build_trigger(hourly)).__name__ == "IntervalTrigger"
    async with RetrainSchedule(hourly, FakeController()) as schedule:
        assert schedule.next_run_time is not None
        job = schedule._scheduler.get_job("retrain")
        assert job.max_instances == 1 and job.coalesce
    assert schedule.next_run_time is None


async def test_the_controller_tells_serving_when_a_run_trains(db, settings, monkeypatch):
    monkeypatch.setenv("FAKE_WORKER_MODE", "crash")
    seen = []

    async def on_training(active):
        seen.append(active)

    controller = TrainingController(settings, worker_module=FAKE, on_training=on_training)
    await controller.start_run("test", preset="tiny")
    await asyncio.wait_for(controller.wait(), 30)
    assert seen == [True, False]
