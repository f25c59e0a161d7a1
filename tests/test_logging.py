"""Logging: console + a daily-rotated file with 30 days kept; no message texts at INFO."""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from logging_setup import configure_logging
from storage import Database
from telegram_export import import_export


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def _file_handler(root: logging.Logger) -> logging.handlers.TimedRotatingFileHandler:
    (handler,) = [h for h in root.handlers if isinstance(h, logging.handlers.TimedRotatingFileHandler)]
    return handler


def test_file_rotates_at_midnight_and_keeps_30(root_logger: logging.Logger, tmp_path: Path) -> None:
    configure_logging(tmp_path / "logs", "INFO", console=False)
    configure_logging(tmp_path / "logs", "INFO", console=False)  # idempotent: handlers replaced
    handler = _file_handler(root_logger)
    assert (handler.when, handler.interval, handler.backupCount) == ("MIDNIGHT", 86_400, 30)
    assert Path(handler.baseFilename) == tmp_path / "logs" / "tgtwin.log"
    # 35 days of old files already there: after a rollover only the newest 30 remain.
    for day in range(1, 36):
        stamp = time.strftime("%Y-%m-%d", time.gmtime(time.time() - day * 86_400))
        old = tmp_path / "logs" / f"tgtwin.log.{stamp}"
        old.write_text("old\n", encoding="utf-8")
        os.utime(old, (time.time() - day * 86_400,) * 2)
    logging.getLogger("tgtwin.test").info("before rollover")
    handler.doRollover()
    kept = sorted(p.name for p in (tmp_path / "logs").glob("tgtwin.log.*"))
    assert len(kept) == 30


async def test_import_logs_counts_not_texts(root_logger: logging.Logger, tmp_path: Path) -> None:
    configure_logging(tmp_path / "logs", "INFO", console=False)
    secret = "my bank pin is 4321 do not tell"
    export = tmp_path / "result.json"
    export.write_text(json.dumps({
        "personal_information": {"user_id": 1, "first_name": "Me"},
        "chats": {"list": [{"name": "Bob", "type": "personal_chat", "id": 2, "messages": [
            {"id": 1, "type": "message", "date_unixtime": "1700000000", "from": "Bob", "from_id": "user2",
             "text": secret},
        ]}]},
    }), encoding="utf-8")
    async with Database.open(tmp_path / "db.sqlite3") as db:
        await import_export(db, export)
    for handler in root_logger.handlers:
        handler.flush()
    log_text = (tmp_path / "logs" / "tgtwin.log").read_text(encoding="utf-8")
    assert "export imported: 1 chats, 1 messages added" in log_text
    assert secret not in log_text and "4321" not in log_text
