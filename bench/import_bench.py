"""Export import throughput and memory against a raw sqlite3 baseline.

    python -m bench.import_bench --messages 1000000

Writes a synthetic full-account export of N messages in a temp dir, imports it with
`telegram_export.import_export` in a fresh child process (so its peak RSS is the import's own),
then inserts the very same rows with one raw `sqlite3` `executemany` in one transaction, into the
same schema with the same PRAGMAs, in another child. Prints what it measured; nothing else.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OWNER_ID = 100
_WORDS = "ok yes no maybe later today tomorrow call me when you can sure thanks привет да нет давай потом".split()
_CHAT_SHAPES = (("personal_chat", 1), ("private_group", 2), ("private_supergroup", 3), ("bot_chat", 4))


def write_synthetic_export(path: Path, n_messages: int, n_chats: int = 8, seed: int = 0) -> None:
    """A full-account export with N messages spread over `n_chats` chats: mostly text, some entity
    lists, replies, edits, media and service messages, like a real one."""
    rnd = random.Random(seed)
    per_chat = [n_messages // n_chats + (1 if i < n_messages % n_chats else 0) for i in range(n_chats)]
    date = 1_600_000_000
    with path.open("w", encoding="utf-8") as out:
        out.write(f'{{\n "about": "synthetic",\n "personal_information": {{"user_id": {OWNER_ID}, "first_name": "Owner"}},\n'
                  ' "chats": {\n  "about": "",\n  "list": [\n')
        for chat_index, count in enumerate(per_chat):
            export_type, _ = _CHAT_SHAPES[chat_index % len(_CHAT_SHAPES)]
            export_id = 1000 + chat_index
            partner = export_id if export_type in ("personal_chat", "bot_chat") else 5000 + chat_index
            header = {"name": f"Chat {chat_index}", "type": export_type, "id": export_id}
            out.write("   {\n" + "".join(f"    {json.dumps(k)}: {json.dumps(v)},\n" for k, v in header.items()))
            out.write('    "messages": [\n')
            for message_id in range(1, count + 1):
                date += rnd.randint(1, 600)
                mine = rnd.random() < 0.5
                sender = OWNER_ID if mine else partner
                text = " ".join(rnd.choices(_WORDS, k=rnd.randint(1, 12)))
                message: dict[str, object] = {
                    "id": message_id, "type": "message", "date": "2020-09-13T12:26:40",
                    "date_unixtime": str(date), "from": "Owner" if mine else f"Partner {chat_index}",
                    "from_id": f"user{sender}", "text": text,
                    "text_entities": [{"type": "plain", "text": text}],
                }
                roll = rnd.random()
                if roll < 0.01:
                    message = {"id": message_id, "type": "service", "date": message["date"],
                               "date_unixtime": str(date), "actor": "Owner", "actor_id": f"user{OWNER_ID}",
                               "action": "pin_message", "message_id": 1, "text": "", "text_entities": []}
                elif roll < 0.05:
                    message.update(file="stickers/s.webp", media_type="sticker", sticker_emoji="👍", text="")
                elif roll < 0.08:
                    message.update(photo="photos/p.jpg", width=800, height=600)
                elif roll < 0.15:
                    message["text"] = [text, {"type": "link", "text": "https://example.org"}]
                if rnd.random() < 0.1 and message_id > 1:
                    message["reply_to_message_id"] = message_id - 1
                if rnd.random() < 0.02:
                    message["edited_unixtime"] = str(date + 30)
                tail = ",\n" if message_id < count else "\n"
                out.write("     " + json.dumps(message, ensure_ascii=False) + tail)
            out.write("    ]\n   }" + (",\n" if chat_index < n_chats - 1 else "\n"))
        out.write("  ]\n }\n}\n")


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
    parser.add_argument("--chats", type=int, default=8)
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
        write_synthetic_export(export, args.messages, args.chats)
        size_mb = export.stat().st_size / 2**20
        imported = _in_child("--child-import", export, Path(tmp) / "import.sqlite3", "--reader", args.reader)
        raw = _in_child("--child-raw", export, Path(tmp) / "raw.sqlite3")
    print(f"export: {args.messages:,} messages, {args.chats} chats, {size_mb:.0f} MB, reader: {args.reader}")
    print(f"import: {imported['rows']:,.0f} rows in {imported['seconds']:.2f} s = "
          f"{imported['rows'] / imported['seconds']:,.0f} messages/s, peak RSS {imported['rss_mb']:.0f} MB"
          + (f" (reader process {imported['reader_rss_mb']:.0f} MB)" if imported["reader_rss_mb"] else ""))
    print(f"  CPU: importer {imported['cpu']:.2f} s, reader process {imported['reader_cpu']:.2f} s")
    print(f"raw executemany: {raw['rows']:,.0f} rows in {raw['seconds']:.2f} s = "
          f"{raw['rows'] / raw['seconds']:,.0f} rows/s (CPU {raw['cpu']:.2f} s)")
    print(f"ratio (import speed / raw speed): {raw['seconds'] / imported['seconds']:.2f}")


if __name__ == "__main__":
    main()
