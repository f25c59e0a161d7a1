"""One training run at a time, across processes (issue 18 item 12): a worker holds the run lock for
its whole life, so a server killed and restarted while its worker trains refuses a second run (API
409, CLI one line), keeps the live run's row, and fails the row once the worker is dead."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from admin_ui.app import create_app
from services import Services
from settings import Settings
from storage import Database
from storage import training as training_queries
from tests.admin_ui.fakes import FakeModel
from training.runs.controller import TrainingController
from training.runs.lock import run_lock_holder
from training.runs.reconcile import reconcile_runs

ROOT = Path(__file__).resolve().parents[2]
FAKE = "tests.training.fake_worker"
TOKEN = "t" * 32

# A server that starts a run (its worker hangs) and is then killed with SIGKILL by the test.
SERVER = """
import asyncio, sys
from settings import load_settings
from training.runs.controller import TrainingController

async def serve():
    settings = load_settings(data_dir=sys.argv[1], base_model="tiny")
    controller = TrainingController(settings, worker_module="tests.training.fake_worker")
    print(await controller.start_run("api", preset="tiny"), flush=True)
    await asyncio.sleep(300)

asyncio.run(serve())
"""


async def _until(condition, what: str) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(0.1)


def _client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1",
                             headers={"Authorization": f"Bearer {TOKEN}"})


async def test_a_restarted_server_refuses_a_second_run_while_the_old_worker_trains(settings: Settings, monkeypatch):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TGTWIN_")}
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(settings.data_dir)], stdout=subprocess.PIPE, text=True,
                              env={**env, "PYTHONPATH": str(ROOT), "FAKE_WORKER_MODE": "hang"})
    worker_pid = None
    try:
        run_id = int(await asyncio.to_thread(server.stdout.readline))
        note = json.loads((settings.data_dir / "runs" / "training.lock").read_text())
        worker_pid = note["pid"]
        await _until((settings.data_dir / "runs" / f"run-{run_id}.pid").exists, "the worker to record its pid")
        server.kill()  # kill -9: the worker lives on, holding the lock
        server.wait()

        monkeypatch.setenv("FAKE_WORKER_MODE", "crash")
        async with Database.open(settings.db_path) as db:  # the restarted server, on the same data dir
            assert (await reconcile_runs(db, settings)).failed_runs == ()
            controller = TrainingController(settings, worker_module=FAKE)
            services = Services(settings=settings, db=db, model=FakeModel(), training=controller)
            async with _client(create_app(services, TOKEN, with_panel=False)) as client:
                refused = await client.post("/api/training/runs", json={})
                assert refused.status_code == 409 and "in progress" in refused.json()["detail"]
                listed = (await client.get("/api/training/runs")).json()
                assert [(r["id"], r["status"]) for r in listed] == [(run_id, "running")]

                os.kill(worker_pid, signal.SIGKILL)
                await _until(lambda: run_lock_holder(settings) is None, "the OS to release the dead worker's lock")
                listed = (await client.get("/api/training/runs")).json()  # reconciles first
                assert [(r["id"], r["status"]) for r in listed] == [(run_id, "failed")]
                assert f"(pid {worker_pid}) is gone" in listed[0]["error"]

                started = await client.post("/api/training/runs", json={})
                assert started.status_code == 202, started.text
                await asyncio.wait_for(controller.wait(), 30)
    finally:
        for pid in (server.pid, worker_pid):
            if pid is not None:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        server.wait()


async def test_the_cli_refuses_to_train_while_a_worker_holds_the_lock(db, settings: Settings, monkeypatch):
    from cli.app import app

    monkeypatch.setenv("FAKE_WORKER_MODE", "hang")
    async with TrainingController(settings, worker_module=FAKE) as controller:
        run_id = await controller.start_run("api", preset="tiny")
        pid = json.loads((settings.data_dir / "runs" / "training.lock").read_text())["pid"]
        result = await asyncio.to_thread(
            CliRunner().invoke, app, ["--data-dir", str(settings.data_dir), "train", "--preset", "tiny"])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: training run {run_id} is still running (pid {pid})"
    assert [r.id for r in await training_queries.list_runs(db)] == [run_id]  # the CLI recorded nothing
