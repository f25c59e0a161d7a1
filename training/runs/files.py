"""Where a training run's files live, all private to the owner whatever the umask: the settings
handed to the worker, the worker's log, the pid file and the run lock under `<data>/runs`, the log
under `<data>/logs`. Directories are made 0700 and files created 0600: the log describes the
owner's chats (in counts) and the settings name the data dir; nobody else on the machine needs them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from settings import Settings
from storage.db import make_private_dir


def runs_dir(settings: Settings) -> Path:
    """`<data>/runs`, created 0700."""
    path = Path(settings.data_dir) / "runs"
    make_private_dir(path)
    return path


def pid_file(settings: Settings, run_id: int) -> Path:
    return Path(settings.data_dir) / "runs" / f"run-{run_id}.pid"


def settings_file(settings: Settings, run_id: int) -> Path:
    return Path(settings.data_dir) / "runs" / f"run-{run_id}.settings.json"


def lock_file(settings: Settings) -> Path:
    return Path(settings.data_dir) / "runs" / "training.lock"


def log_file(settings: Settings, run_id: int) -> Path:
    """`<data>/logs/training-run-N.log` (its directory created 0700)."""
    make_private_dir(Path(settings.logs_dir))
    return Path(settings.logs_dir) / f"training-run-{run_id}.log"


def write_private(path: Path, text: str) -> None:
    """Write `text` to a file only the owner can read (created 0600: never readable, not even for a
    moment, by anyone else)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a file that existed keeps its mode through O_CREAT
    with open(fd, "w", encoding="utf-8") as f:
        f.write(text)


def open_private_log(path: Path) -> BinaryIO:
    """Open a log for appending, 0600."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.fchmod(fd, 0o600)
    return open(fd, "ab")
