"""Multi-process training: which process this is, and the few collectives the entry point needs.

`torchrun --nproc_per_node N main.py train` (or `accelerate launch` on GPUs) starts the one entry
point N times. trl's trainer distributes the training itself; everything around it follows one rule:
the main process (rank 0) alone reads the database, writes the run row, the adapter, the evaluation
and the promotion. It shares what the others need (the run plan) with `share`, and the end of the
run (success or the failure's message) with `share` again, so every process ends the same way and a
failure is recorded once. A process killed mid-training (torchrun then stops the others with
SIGTERM) is turned into `Terminated`, so the main process still marks the run failed.

With one process (no `WORLD_SIZE` in the environment) every function here is a no-op.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
# Followers wait for the main process's evaluation at a collective; gloo's default (30 min) is too
# short for a large model's evaluation.
COLLECTIVE_TIMEOUT = timedelta(hours=6)


class RankError(ValueError):
    """RANK / LOCAL_RANK / WORLD_SIZE in the environment are not a valid process layout."""


class Terminated(RuntimeError):
    """This process was told to stop (SIGTERM), e.g. because another process of the run failed."""


@dataclass(frozen=True, slots=True)
class Rank:
    """Where this process sits in a multi-process run (the defaults: a single process)."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


@dataclass(frozen=True, slots=True)
class Failure:
    """What the main process shares instead of a value when it failed."""

    message: str


def current_rank(environ: Mapping[str, str] | None = None) -> Rank:
    """The layout torchrun / accelerate put in the environment (`RANK`, `LOCAL_RANK`, `WORLD_SIZE`)."""
    env = os.environ if environ is None else environ
    try:
        world = int(env.get("WORLD_SIZE", "1"))
        rank = int(env.get("RANK", "0"))
        local = int(env.get("LOCAL_RANK", str(rank)))
    except ValueError:
        raise RankError("RANK, LOCAL_RANK and WORLD_SIZE must be integers") from None
    if world < 1 or not 0 <= rank < world or not 0 <= local <= rank:
        raise RankError(f"invalid process layout: RANK={rank} LOCAL_RANK={local} WORLD_SIZE={world}")
    return Rank(rank, local, world)


def setup(rank: Rank) -> None:
    """Join the process group (gloo on CPU, nccl on CUDA) before anything collective, and turn
    SIGTERM into `Terminated`. The trainer (accelerate) reuses the group."""
    if not rank.distributed:
        return
    import torch
    import torch.distributed as dist

    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(rank.local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if cuda else "gloo", timeout=COLLECTIVE_TIMEOUT)
    _raise_on_sigterm()
    log.info("process %s/%s (local %s) joined the run (%s)", rank.rank, rank.world_size, rank.local_rank,
             dist.get_backend())


def teardown(rank: Rank) -> None:
    if not rank.distributed:
        return
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def share(rank: Rank, value: T | None = None, *, failure: BaseException | None = None) -> T | Failure:
    """The main process's `value` (or its `failure`, as a `Failure`) on every process.

    The main process passes the value (or failure); the others pass nothing and get it back. Every
    process must call it the same number of times, in the same order."""
    if not rank.distributed:
        return Failure(_describe(failure)) if failure is not None else value  # type: ignore[return-value]
    import torch.distributed as dist

    box: list[Any] = [None]
    if rank.is_main:
        box[0] = Failure(_describe(failure)) if failure is not None else value
    dist.broadcast_object_list(box, src=0)
    return box[0]


def _describe(error: BaseException | None) -> str:
    return f"{type(error).__name__}: {error}" if error is not None else "unknown failure"


_stopped: list[str] = []


def stop_reason() -> str | None:
    """Why this process was told to stop, once it was (asyncio turns the `Terminated` raised in the
    event loop into a cancellation of the run's task; the run row records this reason instead)."""
    return _stopped[0] if _stopped else None


def _raise_on_sigterm() -> None:
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int, frame: Any) -> None:
        reason = f"stopped by signal {signum}: another process of the run failed, or the run was stopped"
        _stopped.append(reason)
        raise Terminated(reason)

    signal.signal(signal.SIGTERM, handler)


def shards_parameters(environ: Mapping[str, str] | None = None) -> bool:
    """Whether `accelerate launch` set up FSDP or DeepSpeed ZeRO-3, which shard the parameters
    (then a 4-bit base must store its packed weights in the compute dtype to be shardable)."""
    env = os.environ if environ is None else environ
    if env.get("ACCELERATE_USE_FSDP", "").lower() == "true":
        return True
    if env.get("ACCELERATE_USE_DEEPSPEED", "").lower() != "true":
        return False
    if env.get("ACCELERATE_DEEPSPEED_ZERO_STAGE"):
        return env["ACCELERATE_DEEPSPEED_ZERO_STAGE"] == "3"
    config_file = env.get("ACCELERATE_DEEPSPEED_CONFIG_FILE")
    if not config_file:
        return False
    import json

    try:
        stage = json.loads(Path(config_file).read_text(encoding="utf-8")).get("zero_optimization", {}).get("stage")
    except (OSError, ValueError):
        return False
    return stage == 3
