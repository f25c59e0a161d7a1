"""Reading the export ahead of the inserts, off the event loop, through a bounded queue.

Items are ("rows", parsed so far, chunk), then ("done", ReadSummary, None) or
("error", ExportFormatError, None). Small files are read by a thread. Large ones are read by a
spawned process: Python's sqlite3 takes the GIL back after every row it steps, so a reader
*thread* and the inserts only take turns, while a reader *process* really runs beside them.
Measured with bench/import_bench.py (200,000 messages, 56 MB, 2 busy cores): the import runs at
~0.6 of raw executemany speed with the process and ~0.44 with a thread (peak RSS 40 MB + the
reader's 55 MB vs 70 MB). Under 32 MB the interpreter start-up is not worth it.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from telegram_export.errors import ExportFormatError
from telegram_export.walker import ExportWalker

PROCESS_THRESHOLD_BYTES = 32 << 20
QUEUE_CHUNKS = 3
_POLL_SECONDS = 0.2

Item = tuple[str, Any, Any]


def _items(path: Path, owner_hint: int | None, stored_owner: int | None) -> Iterator[Item]:
    walker = ExportWalker(path, owner_hint, stored_owner)
    try:
        for chunk in walker.chunks():
            yield ("rows", walker.parsed, chunk)
        yield ("done", walker.summary(), None)
    except ExportFormatError as exc:
        yield ("error", exc, None)
    except Exception as exc:  # noqa: BLE001 - anything else still ends as one line, not a traceback
        yield ("error", ExportFormatError(f"the export reader failed ({type(exc).__name__}: {exc})"), None)


def _read_into(handoff: Any, path: Path, owner_hint: int | None, stored_owner: int | None,
               stop: threading.Event | None = None) -> None:
    """Thread or process body: put every item into the bounded queue (stops early on `stop`)."""
    for item in _items(path, owner_hint, stored_owner):
        while True:
            if stop is not None and stop.is_set():
                return
            try:
                handoff.put(item, timeout=_POLL_SECONDS)
                break
            except queue.Full:
                continue
        if item[0] != "rows":
            return


class ReadAhead:
    """Starts the reader (thread or process); `await next_item()`; `close()` always."""

    def __init__(self, path: Path, owner_hint: int | None, stored_owner: int | None) -> None:
        self._stop = threading.Event()
        self._process: multiprocessing.process.BaseProcess | None = None
        self._thread: threading.Thread | None = None
        args = (path, owner_hint, stored_owner)
        if path.stat().st_size >= PROCESS_THRESHOLD_BYTES:
            # spawn, not fork: forking a process that runs an event loop and SQLite is unsafe.
            context = multiprocessing.get_context("spawn")
            self._queue: Any = context.Queue(maxsize=QUEUE_CHUNKS)
            self._process = context.Process(
                target=_read_into, args=(self._queue, *args), name="export-reader", daemon=True,
            )
            self._process.start()
        else:
            self._queue = queue.Queue(maxsize=QUEUE_CHUNKS)
            self._thread = threading.Thread(
                target=_read_into, args=(self._queue, *args, self._stop), name="export-reader", daemon=True,
            )
            self._thread.start()

    def _get(self) -> Item:
        while True:
            try:
                return self._queue.get(timeout=_POLL_SECONDS)  # type: ignore[no-any-return]
            except queue.Empty:
                process = self._process
                if process is not None and process.exitcode is not None:
                    try:  # its last item may have landed just before it exited
                        return self._queue.get(timeout=_POLL_SECONDS)  # type: ignore[no-any-return]
                    except queue.Empty:
                        raise ExportFormatError(
                            f"the export reader process stopped unexpectedly (exit code {process.exitcode})"
                        ) from None

    async def next_item(self) -> Item:
        return await asyncio.to_thread(self._get)

    def close(self) -> None:
        """Stop the reader and wait for it; a reader blocked on a full queue gives up."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._process is not None:
            if self._process.exitcode is None:
                self._process.terminate()
            self._process.join()
            self._process.close()
            self._queue.close()
            self._queue.cancel_join_thread()
