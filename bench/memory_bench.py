"""Memory: what it costs and what it is worth. One part per subcommand.

    python -m bench.memory_bench retrieval [--messages 100000] [--contacts 40] [--groups 2] [--queries 400]
    python -m bench.memory_bench training [--preset smollm2-cpu] [--max-steps N] [--owner-messages 10000]
                                          [--runs 2] [--hits-contexts 256]

`retrieval`: writes the synthetic export (`testdata.exports`, a few busy contacts and a long tail,
as real histories are) with at least `--messages` messages, imports it into a temporary database
(which fills the memory index through its triggers), puts every chat in `draft` mode, and times
`memory.recall` per call, as a live reply calls it, for `--queries` partner messages drawn at random
(fixed seed) in proportion to the chats' sizes: each as the turn to answer, with the history before
it as what memory may recall. First with the machine as it is, then (other queries) with `--hogs`
processes spinning on the CPU beside it. Prints the figures it measured and nothing else.

`training` (`bench.memory_training`): the generated history (`testdata.exports`, recurring facts
planted; by default 10,000 owner messages over 40 contacts and 6 months) imported into two fresh data
dirs, and the same preset trained on each, with memory (`TGTWIN_MEMORY_ENABLED=true`) and without:
the same history, so the same held-out sessions; `--runs` scheduled runs per arm, each continuing
from the arm's last adapter. Each run's evaluation is read back through `tgtwin eval --json`:
memory_recall and hits@1 with memory on and off (`memory_recall`, `hits_at_1_memory`), the blind
judge; and hits@1 over the last `--hits-contexts` held-out contexts, context by context
(`bench.heldout_hits`). Then each adapter is served as a live reply is (`bot.context.chat_dialogue`
→ the model service), with memory on or off as it was trained, and answers `--replies` of the
planted questions, each typed into its chat as a new message: the reply's p50 through that path,
and (memory on) `memory.recall` timed alone on the same questions, before each question's date. One
table per run, then issue 20's goals for it. A figure the evaluation does not report prints "not
measured". `--max-steps` cuts training for a quick check of the plumbing (its figures measure
nothing about memory).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from testdata.exports import ExportSpec, write_export

SEED = 20
WARM_UP = 20
RECALL_BUDGET_MS = 50.0
"""What issue 20 allows retrieval to add to a reply at 100k stored messages."""
RECALL_GOAL = 0.6
"""Issue 20's goal for memory_recall with memory (against about chance without)."""
ROOT = Path(__file__).resolve().parents[1]
NOT_MEASURED = "not measured"


def _spin() -> None:
    while True:
        pass


def percentile(values: list[float], share: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(share * 100) - 1]


async def timed_recalls(db: Any, settings: Any, queries: list[Any]) -> list[float]:
    from memory import recall
    from model.dialogue import Turn

    timings = []
    for row in queries:
        context = (Turn("partner", (row["text"],), row["sender_name"], row["date"]),)
        start = time.perf_counter()
        await recall(db, settings, row["chat_id"], context, row["date"])
        timings.append((time.perf_counter() - start) * 1000)
    return timings


async def retrieval(args: argparse.Namespace, report: Callable[[str], None]) -> None:
    from settings import load_settings
    from storage import Database
    from telegram_export import import_export

    with tempfile.TemporaryDirectory(prefix="tgtwin-bench-") as tmp:
        settings = load_settings(data_dir=Path(tmp) / "data", demo=False)
        export = Path(tmp) / "result.json"
        write_export(export, ExportSpec(messages=args.messages, contacts=args.contacts, groups=args.groups))
        async with Database.open(settings.db_path) as db:
            start = time.perf_counter()
            await import_export(db, export)
            import_s = time.perf_counter() - start
            await db.execute("UPDATE chats SET reply_mode = 'draft'")
            stored = await db.scalar("SELECT COUNT(*) FROM messages WHERE deleted = 0")
            chats = await db.scalar("SELECT COUNT(DISTINCT chat_id) FROM messages")
            index_mb = (await db.scalar("SELECT SUM(pgsize) FROM dbstat WHERE name LIKE 'memory_%'") or 0) / 2**20
            partner = await db.fetchall(
                "SELECT chat_id, sender_name, date, text FROM messages "
                "WHERE outgoing = 0 AND deleted = 0 AND text != ''")
            # Separate draws for the warm-up and each condition: a repeated query would find its pages cached.
            drawn = random.Random(SEED).sample(partner, min(2 * args.queries + WARM_UP, len(partner)))
            warm_up, queries = drawn[:WARM_UP], drawn[WARM_UP:]
            idle_queries, loaded_queries = queries[::2], queries[1::2]
            report(f"history: {stored:,} messages in {chats} chats (imported with the index in {import_s:.1f} s); "
                   f"memory index {index_mb:.1f} MB")
            report(f"settings: {settings.memory_max_recollections} recollections within {settings.memory_max_tokens} "
                   f"tokens; {len(idle_queries)} + {len(loaded_queries)} queries; load average before: "
                   f"{os.getloadavg()[0]:.2f}")
            await timed_recalls(db, settings, warm_up)  # the caches warm, as a running bot has them
            idle = await timed_recalls(db, settings, idle_queries)
            hogs = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(args.hogs)]
            for hog in hogs:
                hog.start()
            try:
                loaded = await timed_recalls(db, settings, loaded_queries)
            finally:
                for hog in hogs:
                    hog.terminate()
                    hog.join()
    for name, timings in (("as is", idle), (f"{args.hogs} CPU hogs beside it", loaded)):
        report(f"recall per call, {name}: p50 {percentile(timings, 0.5):.2f} ms, p95 {percentile(timings, 0.95):.2f} "
               f"ms, max {max(timings):.2f} ms")
    ratio = percentile(loaded, 0.95) / percentile(idle, 0.95)
    report(f"p95 under load / as is: {ratio:.2f}; issue 20's allowance: {RECALL_BUDGET_MS:.0f} ms per reply")


async def training(args: argparse.Namespace, report: Callable[[str], None]) -> None:
    """The `training` part (`bench.memory_training`, which imports this module's helpers)."""
    from bench.memory_training import training as train_both

    await train_both(args, report)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parts = parser.add_subparsers(dest="part", required=True)
    part = parts.add_parser("retrieval", help="recall latency over a large stored history")
    part.add_argument("--messages", type=int, default=100_000, help="stored messages, at least (default 100000)")
    part.add_argument("--contacts", type=int, default=40, help="private chats (default 40)")
    part.add_argument("--groups", type=int, default=2, help="group chats (default 2)")
    part.add_argument("--queries", type=int, default=400, help="recall calls timed per condition (default 400)")
    part.add_argument("--hogs", type=int, default=os.cpu_count() or 1,
                      help="CPU-spinning processes for the loaded run (default: one per CPU)")
    part.set_defaults(run=retrieval)
    part = parts.add_parser("training", help="the same preset trained with and without memory, evaluated and served")
    part.add_argument("--preset", default="smollm2-cpu", help="training preset (default smollm2-cpu, the default)")
    part.add_argument("--max-steps", type=int, default=None, help="cut training to this many steps (quick checks)")
    part.add_argument("--owner-messages", type=int, default=10_000, help="the owner's messages (default 10000)")
    part.add_argument("--contacts", type=int, default=40, help="private chats (default 40)")
    part.add_argument("--months", type=int, default=6, help="months the history spans (default 6)")
    part.add_argument("--replies", type=int, default=20, help="questions answered through the live path (default 20)")
    part.add_argument("--data-dir", type=Path, default=None,
                      help="an empty dir to keep the runs in (default: a temporary one)")
    part.add_argument("--models-dir", type=Path, default=None, help="base models built before (reused, not copied)")
    part.add_argument("--runs", type=int, default=2,
                      help="scheduled runs per arm, each continuing from the last (default 2)")
    part.add_argument("--hits-contexts", type=int, default=256,
                      help="held-out contexts hits@1 is measured on after each run (default 256)")
    part.set_defaults(run=training)
    args = parser.parse_args(argv)
    asyncio.run(args.run(args, print))


if __name__ == "__main__":
    main()
