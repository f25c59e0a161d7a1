"""Console + daily-rotated file logging (30 days kept) in the data dir.

Privacy rule for every module: at INFO and above log ids and counts, never message texts,
session strings, codes or passwords. Texts may appear at DEBUG only.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path

from rich.console import Console
from rich.logging import RichHandler

from storage.db import make_private_dir

FILE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

FILE_ONLY = {"file_only": True}
"""`extra=` for a record the console already shows another way (the CLI's one-line `error:`): it
goes to the log file only, so the file has the reason (and a traceback) without the console
printing it twice."""


def _not_file_only(record: logging.LogRecord) -> bool:
    return not getattr(record, "file_only", False)


class PrivateRotatingFileHandler(logging.handlers.TimedRotatingFileHandler):
    """Daily-rotated log files readable by the owner only (0600), the new file after each rotation too."""

    def _open(self):  # type: ignore[no-untyped-def]
        stream = super()._open()
        os.chmod(self.baseFilename, 0o600)
        return stream


def configure_logging(logs_dir: Path, level: str = "INFO", console: bool = True) -> None:
    """Configure the root logger once per process (idempotent: handlers are replaced)."""
    make_private_dir(logs_dir)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    file_handler = PrivateRotatingFileHandler(
        logs_dir / "tgtwin.log", when="midnight", backupCount=30, encoding="utf-8", utc=True
    )
    file_handler.setFormatter(logging.Formatter(FILE_FORMAT))
    root.addHandler(file_handler)
    if console:
        # stderr: stdout carries command output (`status --json` must stay parseable)
        console_handler = RichHandler(console=Console(stderr=True), show_path=False, rich_tracebacks=False,
                                      markup=False)
        console_handler.addFilter(_not_file_only)
        root.addHandler(console_handler)
    root.setLevel(level)
    # Third-party chatter that would otherwise drown ours (and, for pyrogram, can echo raw payloads).
    for noisy in ("pyrogram", "httpx", "urllib3", "apscheduler", "gradio", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
