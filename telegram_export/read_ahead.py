"""Reading the export ahead of the inserts, off the event loop, through a bounded queue.

Items are ("rows", parsed so far, chunk), then ("done", ReadSummary, None) or
("error", ExportFormatError, None). Small files are read by a thread. Large ones are read by a
spawned process: Python's sqlite3 takes the GIL back after every row it steps, so a reader
*thread* and the inserts only take turns, while a reader *process* really runs beside them.

Measured with bench/import_bench.py (200,000 messages, 56 MB; `--reader thread` vs the default)
on 2 shared cores: with the second core mostly free (load ~1.4) the import ran at 0.59-0.63 of
raw executemany speed with the process and 0.43-0.45 with a thread; with both cores saturated
(load ~10) the thread did better (0.41-0.45 vs 0.32-0.36). Either way the importer's own CPU
halves (0.94 s vs 1.8 s: the parsing moves out) and peak RSS is 40 MB + the reader's 54 MB vs
70 MB. An import is usually run on a machine with a core to spare, so large files get the
process. Under 32 MB the interpreter start-up is not worth it. (A 1 MiB pipe via fcntl, as the
old hand-made framing used, measured within the noise: not kept.)

The process sends over a `multiprocessing` Pipe (Connection frames the pickles) to a thread that
fills the bounded queue. Not a `multiprocessing.Queue`: the parent holds that queue's write end
too, so a reader killed mid-message (OOM killer, kill -9) left `get()` waiting forever; with the
child's end closed here, its death is an end of file and one clear error.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import queue
import threading
from collections.abc import Iterator
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from telegram_export.errors import ExportFormatError
from telegram_export.source import export_file_size
from telegram_export.walker import ExportWalker

PROCESS_THRESHOLD_BYTES = 32 << 20
QUEUE_CHUNKS = 3
_POLL_SECONDS = 0.1

Item = tuple[str, Any, Any]


def _items(path: Path, owner_hint: int | None, stored_owner: int | None, allowed: tuple[int, ...]) -> Iterator[Item]:
    walker = ExportWalker(path, owner_hint, stored_owner, allowed_service_chats=allowed)
    try:
        for chunk in walker.chunks():
            yield ("rows", walker.parsed, chunk)
        yield ("done", walker.summary(), None)
    except ExportFormatError as exc:
        yield ("error", exc, None)
    except Exception as exc:  # noqa: BLE001 - anything else still ends as one line, not a traceback
        yield ("error", ExportFormatError(f"the export reader failed ({type(exc).__name__}: {exc})"), None)


def _read_into(handoff: "queue.Queue[Item]", items: Iterator[Item], stop: threading.Event) -> None:
    """Put every item into the bounded queue until the end, an error, or `stop`."""
    for item in items:
        while True:
            if stop.is_set():
                return
            try:
                handoff.put(item, timeout=_POLL_SECONDS)
                break
            except queue.Full:
                continue
        if item[0] != "rows":
            return


def _send_items(
    conn: Connection, path: Path, owner_hint: int | None, stored_owner: int | None, allowed: tuple[int, ...]
) -> None:
    """The reader process: send every item to the parent (`Connection` frames the pickles)."""
    with conn:
        for item in _items(path, owner_hint, stored_owner, allowed):
            conn.send(item)
            if item[0] != "rows":
                return


def _received(conn: Connection, process: BaseProcess) -> Iterator[Item]:
    """Items from the reader process; if it dies (killed, out of memory) the pipe ends early."""
    while True:
        try:
            item: Item = conn.recv()
        except (EOFError, OSError):
            process.join(timeout=5)
            yield ("error", ExportFormatError(
                f"the export reader process stopped unexpectedly (exit code {process.exitcode})"), None)
            return
        yield item
        if item[0] != "rows":
            return


class ReadAhead:
    """Starts the reader (a thread, or a process and a thread that receives from it);
    `await next_item()` until "done" or "error"; `close()` always."""

    def __init__(
        self, path: Path, owner_hint: int | None, stored_owner: int | None, allowed_service_chats: tuple[int, ...] = ()
    ) -> None:
        self._stop = threading.Event()
        self._queue: queue.Queue[Item] = queue.Queue(maxsize=QUEUE_CHUNKS)
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        if export_file_size(path) >= PROCESS_THRESHOLD_BYTES:  # refuses what is not a regular file
            # spawn, not fork: forking a process that runs an event loop and SQLite is unsafe.
            context = multiprocessing.get_context("spawn")
            self._conn, child_end = context.Pipe(duplex=False)
            self._process = context.Process(
                target=_send_items, args=(child_end, path, owner_hint, stored_owner, allowed_service_chats),
                name="export-reader",
                daemon=True,
            )
            self._process.start()
            child_end.close()  # only the child writes: its death is an end of file here
            items = _received(self._conn, self._process)
        else:
            items = _items(path, owner_hint, stored_owner, allowed_service_chats)
        self._thread = threading.Thread(
            target=self._pump, args=(items,), name="export-reader", daemon=True,
        )
        self._thread.start()

    def _pump(self, items: Iterator[Item]) -> None:
        try:
            _read_into(self._queue, items, self._stop)
        except BaseException as exc:  # noqa: BLE001 - never leave the importer waiting
            message = f"the export reader failed ({type(exc).__name__}: {exc})"
            _read_into(self._queue, iter([("error", ExportFormatError(message), None)]), self._stop)

    def _get(self) -> Item:
        while True:
            try:
                return self._queue.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                if self._stop.is_set():  # closed while waiting (the import was cancelled)
                    return ("error", ExportFormatError("the import was stopped"), None)

    async def next_item(self) -> Item:
        return await asyncio.to_thread(self._get)

    def close(self) -> None:
        """Stop the reader and wait for it; a reader blocked on a full queue gives up."""
        self._stop.set()
        if self._process is not None and self._process.exitcode is None:
            self._process.terminate()  # unblocks a receiving thread with an end of file
        self._thread.join()
        if self._process is not None:
            self._process.join()
            self._process.close()
        if self._conn is not None:
            self._conn.close()
