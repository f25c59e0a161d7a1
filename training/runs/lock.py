"""One training run at a time, across processes: an advisory `flock` on `<data>/runs/training.lock`.

Whoever creates a row for a run that will train takes the lock first, and the process training the
run holds it until it exits: `training.runs.run.run_training` when it creates the row itself (the CLI's
`train`), and the controller for its worker, which inherits the locked descriptor, so the lock lives
exactly as long as the worker, also when the server that started it was killed (`kill -9` leaves
the worker running). The OS drops the lock when its holder dies, so no stale lock outlives a crash.
The file says which run holds it, for the error message.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

from settings import Settings
from training.runs.files import lock_file, runs_dir

ACQUIRE_PATIENCE_S = 1.0
"""`run_lock_holder` takes the lock (shared) for a moment to see whether it is free; an acquirer
retries this long before it concludes that a run holds it."""


class RunAlreadyRunning(RuntimeError):
    """A training run is already in progress; runs never overlap."""


@dataclass(frozen=True, slots=True)
class RunLock:
    """The held run lock. `fd` is the locked descriptor (the controller hands it to its worker)."""

    fd: int

    def note(self, run_id: int, pid: int | None = None) -> None:
        """Record which run (and process, default this one) holds the lock."""
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, json.dumps({"run_id": run_id, "pid": os.getpid() if pid is None else pid}).encode(), 0)

    def close(self) -> None:
        """Close this process's descriptor: the lock is released unless a child inherited it."""
        os.close(self.fd)


def acquire_run_lock(settings: Settings) -> RunLock:
    """Take the run lock; `RunAlreadyRunning` (saying which run holds it) when another process has it."""
    path = lock_file(settings)
    runs_dir(settings)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    deadline = time.monotonic() + ACQUIRE_PATIENCE_S
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if time.monotonic() < deadline:
                time.sleep(0.05)
                continue
            os.close(fd)
            raise RunAlreadyRunning(_holder(settings)) from None
        os.ftruncate(fd, 0)  # the previous holder's note is stale
        return RunLock(fd)


@contextlib.contextmanager
def hold_run_lock(settings: Settings) -> Iterator[RunLock]:
    """Hold the run lock for the duration (`RunAlreadyRunning` if a run holds it)."""
    lock = acquire_run_lock(settings)
    try:
        yield lock
    finally:
        lock.close()


def run_lock_holder(settings: Settings) -> str | None:
    """None when no run holds the lock, else which one does (one line). Never waits."""
    try:
        fd = os.open(lock_file(settings), os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _holder(settings)
    finally:
        os.close(fd)  # also drops the shared lock, if taken
    return None


def _holder(settings: Settings) -> str:
    try:
        note = json.loads(lock_file(settings).read_text(encoding="utf-8"))
        return f"training run {int(note['run_id'])} is still running (pid {int(note['pid'])})"
    except (OSError, ValueError, KeyError, TypeError):  # not noted yet
        return "another training run is in progress"
