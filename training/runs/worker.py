"""The training subprocess: `python -m training.runs.worker --run-id N --preset NAME --settings-file FILE
--server-pid PID`.

Started by `training.runs.controller` (under torchrun when `TGTWIN_TRAIN_PROCESSES` > 1: then every
process runs this, and `run_training` decides who does what); runs the one entry point
(`training.runs.run.run_training`) for a run row the controller already created, holding the run lock the
controller handed down. Exit code 0 = the run succeeded, 1 = it failed (recorded once, by the main
process). The server `--server-pid` promotes the adapter once the worker has exited (swap, then
record); if it is gone by then, the run records the promotion itself, for the next server.

Its settings come from the file alone: no `.env`, no environment (the controller gives it none of
the `TGTWIN_*` variables, which carry the panel token and the API secrets).

The worker yields to serving, which runs in the main process on the same CPUs: it lowers its own
priority (`TRAINING_NICENESS`) and, on CPU, leaves `model.sources.inference_threads()` cores to the
serving thread (`training_threads`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from settings import Settings

TRAINING_NICENESS = 10  # added to the worker's niceness: serving (niceness 0) wins every contended core


def training_threads(cpus: int, serving_threads: int, processes: int) -> int:
    """Torch threads per training process on CPU: the cores serving doesn't use, split between the
    processes, at least one."""
    return max(1, (cpus - serving_threads) // max(1, processes))


def yield_to_serving(processes: int) -> None:
    """Lower this process's CPU priority; on CPU, size torch's thread pool with `training_threads`."""
    import torch

    from model.sources import inference_threads

    try:
        os.nice(TRAINING_NICENESS)
    except OSError as exc:  # e.g. a container that forbids it: train anyway
        logging.getLogger("training.runs.worker").warning("could not lower the training priority: %s", exc)
    if not torch.cuda.is_available():
        torch.set_num_threads(training_threads(os.cpu_count() or 1, inference_threads(), processes))


def load_worker_settings(path: Path) -> Settings:
    """The settings the controller wrote for this run; a `.env` in the working directory is not read
    (it may hold the secrets the worker is kept from)."""
    from settings import Settings

    return Settings(_env_file=None, **json.loads(path.read_text(encoding="utf-8")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.runs.worker")
    parser.add_argument("--run-id", type=int, required=True)
    parser.add_argument("--preset", required=True)
    parser.add_argument("--settings-file", type=Path, required=True)
    parser.add_argument("--server-pid", type=int, default=None, help="The server that promotes the adapter.")
    args = parser.parse_args(argv)

    from training.runs.run import run_training

    settings = load_worker_settings(args.settings_file)
    logging.basicConfig(
        level=getattr(logging, settings.log_level), stream=sys.stdout,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from training.fitting.distributed import current_rank
    from training.runs.run import PeerFailed

    rank = current_rank()
    yield_to_serving(rank.world_size)
    try:
        asyncio.run(run_training(settings, preset=args.preset, run_id=args.run_id, server_pid=args.server_pid))
    except PeerFailed as exc:  # the main process logged and recorded the failure
        logging.getLogger("training.runs.worker").error("training run %s: %s", args.run_id, exc)
        return 1
    except Exception:
        logging.getLogger("training.runs.worker").exception("training run %s failed", args.run_id)
        return 1
    finally:
        if rank.is_main:
            args.settings_file.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
