"""Export import throughput and memory against a raw sqlite3 baseline.

    python -m bench.import_bench --messages 1000000

Writes the synthetic full-account export (`testdata.exports`: `--chats` private chats and
`--groups` groups, at least N messages) in a temp dir, imports it with
`telegram_export.import_export` in a fresh child process (so its peak RSS is the import's own),
then inserts the very same rows with one raw `sqlite3` `executemany` in one transaction, into the
same schema with the same PRAGMAs, in another child. Prints what it measured; nothing else.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from testdata.exports import ExportSpec, write_export


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _child_import(export: Path, db_path: Path, reader: str) -> dict[str, float]:
    from storage import Database
    from telegram_export import import_export, read_ahead

    if reader == "thread":  # the comparison that decides whether the reader process pays for itself
        read_ahead.PROCESS_THRESHOLD_BYTES = 1 << 62

    async def run() -> tuple[float, float, int]:
        async with Database.open(db_path) as db:
            start, cpu = time.perf_counter(), time.process_time()
            result = await import_export(db, export)
            return time.perf_counter() - start, time.process_time() - cpu, result.messages_added

    seconds, cpu, added = asyncio.run(run())
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    # Large exports are read in a reader process of their own: report its peak too.
    reader_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"seconds": seconds, "cpu": cpu, "reader_cpu": children.ru_utime + children.ru_stime,
            "rows": added, "rss_mb": _peak_rss_mb(), "reader_rss_mb": reader_mb}


def _child_raw(export: Path, db_path: Path) -> dict[str, float]:
    """The baseline: the importer's own rows (parsed beforehand, untimed), one executemany."""
    from storage import Database
    from storage.messages import INSERT_IGNORE_SQL

    async def create_schema() -> None:
        async with Database.open(db_path):
            pass

    asyncio.run(create_schema())
    from telegram_export.walker import ExportWalker

    walker = ExportWalker(export, None, None)
    params = [row for chunk in walker.chunks() for row in chunk]
    conn = sqlite3.connect(db_path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=10000"):
        conn.execute(f"PRAGMA {pragma}")
    start, cpu = time.perf_counter(), time.process_time()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(INSERT_IGNORE_SQL, params)
    conn.execute("COMMIT")
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    conn.close()
    return {"seconds": seconds, "cpu": cpu, "rows": len(params)}


def _in_child(mode: str, export: Path, db_path: Path, *extra: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.import_bench", mode, str(export), str(db_path), *extra],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--chats", type=int, default=6, help="private chats (default 6)")
    parser.add_argument("--groups", type=int, default=2, help="group chats (default 2)")
    parser.add_argument("--reader", choices=("auto", "thread"), default="auto",
                        help="auto: a reader process for files over 32 MB (the product); thread: always a thread")
    parser.add_argument("--child-import", nargs=2, metavar=("EXPORT", "DB"), help=argparse.SUPPRESS)
    parser.add_argument("--child-raw", nargs=2, metavar=("EXPORT", "DB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_import:
        print(json.dumps(_child_import(Path(args.child_import[0]), Path(args.child_import[1]), args.reader)))
        return
    if args.child_raw:
        print(json.dumps(_child_raw(Path(args.child_raw[0]), Path(args.child_raw[1]))))
        return

    with tempfile.TemporaryDirectory(prefix="tgtwin-bench-") as tmp:
        export = Path(tmp) / "result.json"
        written = write_export(export, ExportSpec(messages=args.messages, contacts=args.chats, groups=args.groups))
        size_mb = export.stat().st_size / 2**20
        imported = _in_child("--child-import", export, Path(tmp) / "import.sqlite3", "--reader", args.reader)
        raw = _in_child("--child-raw", export, Path(tmp) / "raw.sqlite3")
    print(f"export: {written.messages:,} messages, {written.chats} chats, {size_mb:.0f} MB, reader: {args.reader}")
    print(f"import: {imported['rows']:,.0f} rows in {imported['seconds']:.2f} s = "
          f"{imported['rows'] / imported['seconds']:,.0f} messages/s, peak RSS {imported['rss_mb']:.0f} MB"
          + (f" (reader process {imported['reader_rss_mb']:.0f} MB)" if imported["reader_rss_mb"] else ""))
    print(f"  CPU: importer {imported['cpu']:.2f} s, reader process {imported['reader_cpu']:.2f} s")
    print(f"raw executemany: {raw['rows']:,.0f} rows in {raw['seconds']:.2f} s = "
          f"{raw['rows'] / raw['seconds']:,.0f} rows/s (CPU {raw['cpu']:.2f} s)")
    print(f"ratio (import speed / raw speed): {raw['seconds'] / imported['seconds']:.2f}")


if __name__ == "__main__":
    main()
