"""How the training worker is started and how it shares the CPU with serving."""

from __future__ import annotations

import sys

from training.controller import worker_command
from training.worker import training_threads


def test_one_process_runs_the_worker_module_and_more_go_through_torchrun():
    assert worker_command("training.worker", 1) == [sys.executable, "-m", "training.worker"]
    command = worker_command("training.worker", 4)
    assert command[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert command[command.index("--nproc_per_node") + 1] == "4" and "--standalone" in command
    assert command[-2:] == ["-m", "training.worker"]


def test_training_leaves_serving_its_cores_but_always_gets_one():
    assert training_threads(cpus=2, serving_threads=1, processes=1) == 1
    assert training_threads(cpus=16, serving_threads=8, processes=1) == 8
    assert training_threads(cpus=16, serving_threads=8, processes=2) == 4
    assert training_threads(cpus=2, serving_threads=1, processes=4) == 1
    assert training_threads(cpus=1, serving_threads=1, processes=1) == 1
