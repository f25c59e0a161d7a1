"""How the training worker is started (no secrets in its environment or settings, private files)
and how it shares the CPU with serving."""

from __future__ import annotations

import asyncio
import json
import stat
import sys
from pathlib import Path

from pydantic import SecretStr

from settings import Settings
from training.runs.controller import TrainingController, worker_command
from training.runs.worker import training_threads


def test_one_process_runs_the_worker_module_and_more_go_through_torchrun():
    assert worker_command("training.runs.worker", 1) == [sys.executable, "-m", "training.runs.worker"]
    command = worker_command("training.runs.worker", 4)
    assert command[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert command[command.index("--nproc_per_node") + 1] == "4" and "--standalone" in command
    assert command[-2:] == ["-m", "training.runs.worker"]


def test_training_leaves_serving_its_cores_but_always_gets_one():
    assert training_threads(cpus=2, serving_threads=1, processes=1) == 1
    assert training_threads(cpus=16, serving_threads=8, processes=1) == 8
    assert training_threads(cpus=16, serving_threads=8, processes=2) == 4
    assert training_threads(cpus=2, serving_threads=1, processes=4) == 1
    assert training_threads(cpus=1, serving_threads=1, processes=1) == 1


async def test_the_worker_gets_no_secrets_and_its_files_are_private(settings, monkeypatch, open_umask):
    secrets = {"TGTWIN_ADMIN_TOKEN": "k3JpQ9xV2mT7wL4s", "TGTWIN_API_HASH": "9f8e7d6c5b4a39281706f5e4d3c2b1a0",
               "TGTWIN_OPENAI_API_KEY": "sk-test-1234"}
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("FAKE_WORKER_MODE", "env")
    settings = settings.model_copy(update={"api_id": 12345, "api_hash": SecretStr(secrets["TGTWIN_API_HASH"]),
                                           "admin_token": SecretStr(secrets["TGTWIN_ADMIN_TOKEN"])})
    controller = TrainingController(settings, worker_module="tests.training.fake_worker")
    run_id = await controller.start_run("test", preset="tiny")
    await asyncio.wait_for(controller.wait(), 30)

    given = json.loads((settings.data_dir / "runs" / "worker-env.json").read_text())
    assert not [name for name in given["environment"] if name.startswith("TGTWIN_")]
    assert given["secrets"] == [False, False]  # the settings it loaded hold no panel token, no API hash
    assert not {"api_id", "api_hash", "admin_token", "openai_api_key"} & set(given["settings_file"])
    assert given["settings_mode"] == 0o600

    def mode(path: Path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    runs, logs = settings.data_dir / "runs", settings.logs_dir
    assert mode(logs / f"training-run-{run_id}.log") == 0o600 and mode(runs / f"run-{run_id}.pid") == 0o600
    assert mode(runs / "training.lock") == 0o600 and mode(runs) == 0o700 and mode(logs) == 0o700


def test_the_worker_reads_no_env_file(settings, tmp_path):
    from training.runs.controller import worker_settings_json
    from training.runs.worker import load_worker_settings

    (tmp_path / ".env").write_text("TGTWIN_ADMIN_TOKEN=k3JpQ9xV2mT7wL4s\nTGTWIN_API_ID=12345\n"
                                   "TGTWIN_API_HASH=9f8e7d6c5b4a3928\n")
    assert Settings().admin_token is not None  # the working directory's .env, as the server reads it
    path = tmp_path / "worker.json"
    path.write_text(worker_settings_json(settings))
    loaded = load_worker_settings(path)
    assert loaded.admin_token is None and loaded.api_hash is None and loaded.data_dir == settings.data_dir.resolve()
