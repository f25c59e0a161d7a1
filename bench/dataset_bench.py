"""Dataset build cost against reading the same rows, and what memory adds to it.

    python -m bench.dataset_bench [--messages 100000 | --owner-messages 10000] [--chats 6] [--groups 2] [--json]

Imports the synthetic export (`testdata.exports`, as `bench.import_bench` does) into a temporary
database, then times, best of `--repeat`, over the chats training uses (default settings: private chats): a raw
`sqlite3` read of their live message rows (the floor: tuples only), the typed read through
`storage.dataset_queries` that training does, `training.data.dataset.build_dataset` over those rows
(sessions, examples, PII redaction, time split), and attaching memory to the built dataset
(`training.data.dataset_memory.attach_memory`: one `memory.recall` per example and per training
conversation, default memory settings), which `load_dataset` adds to the build.
Prints only what it measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from testdata.exports import ExportSpec, write_export


async def measure(spec: ExportSpec, repeat: int) -> dict[str, Any]:
    from settings import load_settings
    from storage import Database, dataset_queries
    from telegram_export import import_export
    from training.data.dataset import ChatHistory, DatasetOptions, build_dataset, chat_allowed
    from training.data.dataset_memory import attach_memory

    with tempfile.TemporaryDirectory(prefix="tgtwin-bench-") as tmp:
        settings = load_settings(data_dir=Path(tmp) / "data", demo=False)
        export = Path(tmp) / "result.json"
        write_export(export, spec)
        options = DatasetOptions.from_settings(settings)
        async with Database.open(settings.db_path) as db:
            await import_export(db, export)

            chats = [c for c in await dataset_queries.all_chats(db) if chat_allowed(c, options.train_groups)]
            ids = [c.id for c in chats]
            raw_s = read_s = build_s = memory_s = float("inf")
            for _ in range(repeat):
                started = time.perf_counter()
                with sqlite3.connect(settings.db_path) as conn:
                    raw_rows = conn.execute(
                        f"SELECT * FROM messages WHERE deleted = 0 AND chat_id IN ({','.join('?' * len(ids))}) "
                        "ORDER BY chat_id, date, message_id", ids,
                    ).fetchall()
                raw_s = min(raw_s, time.perf_counter() - started)

                started = time.perf_counter()
                histories = [ChatHistory(chat, await dataset_queries.chat_history(db, chat.id)) for chat in chats]
                read_s = min(read_s, time.perf_counter() - started)

                started = time.perf_counter()
                built = build_dataset(histories, options)
                build_s = min(build_s, time.perf_counter() - started)

                started = time.perf_counter()
                remembered = await attach_memory(db, settings, built)
                memory_s = min(memory_s, time.perf_counter() - started)
            total = await db.scalar("SELECT COUNT(*) FROM messages WHERE deleted = 0")
    rows = sum(len(h.messages) for h in histories)
    assert rows == len(raw_rows), "raw and typed reads must cover the same rows"
    recalls = len(built.examples) + len(built.conversations)
    return {
        "messages": spec.messages,
        "owner_messages": spec.owner_messages,
        "live_rows": int(total or 0),
        "rows": rows,
        "owner_rows": sum(m.outgoing for h in histories for m in h.messages),
        "chats": len(chats),
        "examples": built.stats.examples,
        "conversations": len(built.conversations),
        "examples_with_memory": remembered.stats.memory_examples,
        "conversations_with_memory": remembered.stats.memory_conversations,
        "raw_read_s": round(raw_s, 4),
        "typed_read_s": round(read_s, 4),
        "build_s": round(build_s, 4),
        "build_over_raw_read": round(build_s / raw_s, 2),
        "build_over_typed_read": round(build_s / read_s, 2),
        "memory_s": round(memory_s, 4),
        "memory_ms_per_recall": round(1000 * memory_s / recalls, 3) if recalls else None,
        "build_with_memory_over_without": round((build_s + memory_s) / build_s, 2),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.dataset_bench", description=__doc__.split("\n\n")[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--messages", type=int, help="stored messages, at least (default 100000)")
    size.add_argument("--owner-messages", type=int, help="the owner's messages, at least (instead of --messages)")
    parser.add_argument("--chats", type=int, default=6, help="private chats (default 6)")
    parser.add_argument("--groups", type=int, default=2, help="group chats (default 2)")
    parser.add_argument("--repeat", type=int, default=3, help="Best of this many timings of each step.")
    parser.add_argument("--json", action="store_true", help="Print one JSON object instead of text.")
    args = parser.parse_args(argv)
    messages = None if args.owner_messages else (args.messages or 100_000)
    spec = ExportSpec(owner_messages=args.owner_messages, messages=messages, contacts=args.chats, groups=args.groups)
    result = asyncio.run(measure(spec, args.repeat))
    if args.json:
        print(json.dumps(result))
        return
    print(f"rows: {result['rows']:,} messages ({result['owner_rows']:,} the owner's) in the {result['chats']} chats "
          f"used for training (of {result['live_rows']:,} imported) → {result['examples']:,} examples, "
          f"{result['conversations']:,} training conversations")
    print(f"raw sqlite3 read:      {result['raw_read_s']:.3f} s")
    print(f"typed read (storage):  {result['typed_read_s']:.3f} s")
    print(f"build_dataset:         {result['build_s']:.3f} s "
          f"({result['build_over_raw_read']:.2f}x raw read, {result['build_over_typed_read']:.2f}x typed read)")
    print(f"attach_memory:         {result['memory_s']:.3f} s ({result['memory_ms_per_recall']} ms a recall; "
          f"memory for {result['examples_with_memory']:,} examples and {result['conversations_with_memory']:,} "
          f"conversations); build with memory {result['build_with_memory_over_without']:.2f}x the build without")


if __name__ == "__main__":
    main()
