"""Dead training runs are failed with a reason and their staging dirs removed; live ones are not
touched (issue 11 item 12). A run is live while the run lock is held and its process lives (issue
18 item 12). Through the function and through the CLI entry points."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from settings import Settings
from storage import Database
from storage import training as training_queries
from training.runs.lock import hold_run_lock
from training.runs.reconcile import reconcile_runs, record_run_process


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # reaped: its pid names no process now
    return child.pid


async def test_a_run_whose_process_is_gone_is_failed_and_staging_removed(db: Database, settings: Settings) -> None:
    run = await training_queries.create_run(db, "cli", "tiny")
    record_run_process(settings, run.id, dead_pid())
    staging = settings.adapters_dir / ".tmp-20260101-000000-r1"
    (staging / "checkpoint").mkdir(parents=True)
    done = await reconcile_runs(db, settings)
    assert done.failed_runs == (run.id,) and done.removed_staging == (staging.name,)
    again = await training_queries.get_run(db, run.id)
    assert again.status == "failed" and "is gone" in (again.error or "") and again.finished_at is not None
    assert not staging.exists()


async def test_a_run_whose_process_is_alive_is_left_alone(db: Database, settings: Settings) -> None:
    with hold_run_lock(settings):  # this very process trains it, as run_training does
        run = await training_queries.create_run(db, "cli", "tiny")
        record_run_process(settings, run.id)
        staging = settings.adapters_dir / ".tmp-live"
        staging.mkdir(parents=True)
        done = await reconcile_runs(db, settings)
        assert done.failed_runs == () and done.removed_staging == ()
        assert (await training_queries.get_run(db, run.id)).status == "running" and staging.exists()


async def test_without_the_run_lock_no_run_is_alive(db: Database, settings: Settings) -> None:
    run = await training_queries.create_run(db, "cli", "tiny")
    record_run_process(settings, run.id)  # a live pid (reused, say), but nobody holds the lock
    done = await reconcile_runs(db, settings)
    assert done.failed_runs == (run.id,)
    assert "holds no run lock" in (await training_queries.get_run(db, run.id)).error


async def test_a_run_without_a_process_record(db: Database, settings: Settings) -> None:
    with hold_run_lock(settings):  # a run is alive somewhere
        fresh = await training_queries.create_run(db, "schedule", "tiny")
        old = await training_queries.create_run(db, "schedule", "tiny")
        await db.execute("UPDATE training_runs SET started_at = started_at - 3600 WHERE id = ?", (old.id,))
        done = await reconcile_runs(db, settings)
        assert done.failed_runs == (old.id,)  # the fresh one may be a worker that is still starting
        assert (await training_queries.get_run(db, fresh.id)).status == "running"
    done = await reconcile_runs(db, settings)  # the lock is free: no run is starting either
    assert done.failed_runs == (fresh.id,)


def test_cli_status_reconciles_first(settings: Settings) -> None:
    from cli.app import app

    async def seed() -> int:
        async with Database.open(settings.db_path) as db:
            run = await training_queries.create_run(db, "cli", "tiny")
        record_run_process(settings, run.id, dead_pid())
        (settings.adapters_dir / ".tmp-x").mkdir(parents=True)
        return run.id

    run_id = asyncio.run(seed())
    status = CliRunner().invoke(app, ["--data-dir", str(settings.data_dir), "status", "--json"])
    assert status.exit_code == 0, status.output
    last = json.loads(status.stdout)["training"]["last_run"]
    assert (last["id"], last["status"]) == (run_id, "failed") and "is gone" in last["error"]
    assert not (settings.adapters_dir / ".tmp-x").exists()
    assert not Path(settings.data_dir, "runs", f"run-{run_id}.pid").exists()


async def test_the_api_run_list_reconciles_first(db: Database, settings: Settings) -> None:
    import httpx

    from admin_ui.app import create_app
    from services import Services
    from tests.admin_ui.fakes import FakeModel

    run = await training_queries.create_run(db, "cli", "tiny")
    record_run_process(settings, run.id, dead_pid())
    token = "t" * 32
    app = create_app(Services(settings=settings, db=db, model=FakeModel()), token, with_panel=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1",
                                 headers={"Authorization": f"Bearer {token}"}) as client:
        response = await client.get("/api/training/runs")
    assert response.status_code == 200, response.text
    listed = {r["id"]: r["status"] for r in response.json()}
    assert listed[run.id] == "failed"
