"""`/api/status` under load: many panel clients at once on a database with many drafts.

    python -m bench.status_bench [--drafts 10000] [--chats 100] [--clients 50] [--rounds 3]

Seeds a throwaway database (chats of partner/owner exchanges, one draft per exchange: sent edited,
sent unchanged, discarded with or without the owner's own answer, pending), starts the real app
(`admin_ui.app.create_app`, API only, a stub model) with uvicorn on loopback in a child process,
and sends `--clients` concurrent `GET /api/status` requests per round with httpx. Before the
`--rounds` last rounds a new edited draft is recorded (by this process: another connection), so the
preference pair count has to be brought up to date under the stampede. Prints the latency of the requests
(p50, p99, max) of each round: the first (nothing counted yet), a second with nothing written since,
then `--rounds` after a write each, and the preference pair counts the app reported. Prints only
what it measured.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from model.status import ModelStatus
    from settings import Settings
    from storage import Database

OWNER_ID = 1
TOKEN = "status-bench-token-0123456789"
START = 1_700_000_000
EXCHANGE_SECONDS = 4 * 3600  # each exchange is its own session (the default gap is 3 h)
WORDS = ("dinner", "tonight", "work", "call", "later", "photos", "match", "weekend", "train", "coffee",
         "tomorrow", "meeting", "sure", "maybe", "late", "home", "thanks", "great", "busy", "soon")


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


async def seed(db: Database, drafts: int, chats: int, rng_seed: int = 0) -> None:
    """`drafts` exchanges spread over `chats` private chats: two partner messages, the bot's draft,
    what the owner did with it, and some small talk before the next exchange."""
    from storage import ChatRow, MessageRow
    from storage import chats as chat_queries
    from storage import messages as message_queries

    rng = random.Random(rng_seed)
    chat_ids = [1000 + i for i in range(chats)]
    await chat_queries.upsert_chats(db, [ChatRow(c, "private", f"Contact {c}") for c in chat_ids])
    messages: list[MessageRow] = []
    draft_rows: list[tuple[object, ...]] = []
    next_id = dict.fromkeys(chat_ids, 1)

    def add(chat: int, outgoing: bool, date: int, text: str) -> int:
        message_id = next_id[chat]
        next_id[chat] += 1
        sender = OWNER_ID if outgoing else chat
        name = None if outgoing else f"Contact {chat}"
        messages.append(MessageRow(chat, message_id, sender, name, outgoing, date, text))
        return message_id

    for index in range(drafts):
        chat = chat_ids[index % chats]
        at = START + (index // chats) * EXCHANGE_SECONDS
        for k in range(4):  # small talk earlier in the session
            add(chat, k % 2 == 1, at + k * 30, _sentence(rng, 4))
        add(chat, False, at + 150, _sentence(rng, 5))
        trigger = add(chat, False, at + 160, _sentence(rng, 3) + "?")
        created = at + 165
        suggestion = _sentence(rng, 5)
        kind = rng.choice(("edited", "unchanged", "own_reply", "ignored", "pending"))
        status, sent_text = "discarded", None
        if kind == "edited":
            status, sent_text = "sent", _sentence(rng, 4)
            add(chat, True, created + 20, sent_text)
        elif kind == "unchanged":
            status, sent_text = "sent", suggestion
            add(chat, True, created + 20, suggestion)
        elif kind == "own_reply":
            add(chat, True, created + 60, _sentence(rng, 3))
        elif kind == "ignored":
            add(chat, False, created + 60, _sentence(rng, 3))
        else:
            status = "pending"
            add(chat, True, created + 90, _sentence(rng, 2))
        draft_rows.append((chat, trigger, suggestion, sent_text, status, created, created + 30))
    async with db.atomic():
        for start in range(0, len(messages), 10_000):
            await message_queries.insert_messages(db, messages[start:start + 10_000], "export")
        # Drafts with their own times (the storage API stamps them "now"): bench seeding only.
        await db.executemany(
            """INSERT INTO drafts (chat_id, trigger_message_id, text, sent_text, status, created_at, updated_at)
               VALUES (?, ?, ?, ?, ?, ?, ?)""",
            draft_rows,
        )


class _NoModel:
    """The status reads only the model's own status; no model is loaded for this bench."""

    def status(self) -> ModelStatus:
        from model.status import ModelStatus

        return ModelStatus(backend="none", state="ready", base_model="none", adapter_path=None, device="cpu")


def _settings(data_dir: Path) -> Settings:
    from settings import load_settings

    return load_settings(data_dir=data_dir, base_model="tiny", demo=False)


async def _prepare(data_dir: Path, drafts: int, chats: int) -> None:
    from storage import Database
    from storage import messages as message_queries
    from training.data.preference_pairs import preference_pair_counts

    settings = _settings(data_dir)
    started = time.perf_counter()
    async with Database.open(settings.db_path) as db:
        await seed(db, drafts, chats)
        seeded = time.perf_counter() - started
        messages = (await message_queries.counts(db)).messages
        started = time.perf_counter()
        counts = await preference_pair_counts(db, settings)
        full = time.perf_counter() - started
    print(f"seeded {drafts} drafts, {messages} messages in {chats} chats ({seeded:.1f} s)")
    print(f"one full count, as the CLI's `status` makes it: {full:.2f} s ({counts.total} pairs)")


async def _serve(data_dir: Path, port: int) -> None:
    from admin_ui.app import create_app
    from admin_ui.server import serve
    from services import Services
    from storage import Database

    settings = _settings(data_dir)
    async with Database.open(settings.db_path) as db:
        services = Services(settings=settings, db=db, model=_NoModel())  # type: ignore[arg-type]
        await serve(create_app(services, TOKEN, with_panel=False), "127.0.0.1", port)


async def _add_edited_draft(data_dir: Path, round_no: int) -> None:
    """What the owner does between two dashboard refreshes: a draft sent after editing it. Written
    by this process (another connection), as the bot's own writes would be by the app."""
    from storage import Database
    from storage import replies as reply_queries

    async with Database.open(_settings(data_dir).db_path) as db:
        draft = await reply_queries.create_draft(db, 1000, f"suggestion number {round_no} for tonight")
        await reply_queries.close_draft(db, draft.id, "sent", sent_text=f"edited reply number {round_no}")


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def _line(name: str, latencies: list[float]) -> str:
    return (f"{name}: p50 {statistics.median(latencies):.3f} s, "
            f"p99 {_percentile(latencies, 0.99):.3f} s, max {max(latencies):.3f} s")


async def _clients(data_dir: Path, port: int, clients: int, rounds: int) -> None:
    import httpx

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers, limits=limits,
                                 timeout=120.0) as http:
        for _ in range(600):
            try:
                if (await http.get("/health")).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
        else:
            raise RuntimeError("the app did not start")

        async def one() -> tuple[float, dict[str, int]]:
            started = time.perf_counter()
            response = await http.get("/api/status")
            response.raise_for_status()
            return time.perf_counter() - started, response.json()["preference_pairs"]

        async def burst(name: str) -> list[float]:
            results = await asyncio.gather(*(one() for _ in range(clients)))
            latencies = [seconds for seconds, _ in results]
            answers = {tuple(sorted(pairs.items())) for _, pairs in results}
            shown = dict(next(iter(answers))) if len(answers) == 1 else f"{len(answers)} different answers"
            print(_line(f"{name}, {clients} clients at once", latencies), f"| preference_pairs {shown}")
            return latencies

        await burst("round 1 (nothing counted yet)")
        await burst("round 2 (nothing written since)")
        after_writes: list[float] = []
        for round_no in range(3, rounds + 3):
            await _add_edited_draft(data_dir, round_no)
            after_writes += await burst(f"round {round_no} (after a new edited draft)")
        if rounds > 1:
            print(_line(f"rounds 3-{rounds + 2} together", after_writes))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--drafts", type=int, default=10_000)
    parser.add_argument("--chats", type=int, default=100)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)  # the child process: serve this data dir
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        asyncio.run(_serve(args.serve, args.port))
        return
    with tempfile.TemporaryDirectory(prefix="tgtwin-status-") as tmp:
        data_dir = Path(tmp) / "data"
        asyncio.run(_prepare(data_dir, args.drafts, args.chats))
        port = _free_port()
        log = (Path(tmp) / "server.log").open("wb")
        server = subprocess.Popen([sys.executable, "-m", "bench.status_bench", "--serve", str(data_dir),
                                   "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
        try:
            asyncio.run(_clients(data_dir, port, args.clients, args.rounds))
        finally:
            server.terminate()
            server.wait(30)
            log.close()
            if server.returncode not in (0, -15):
                print((Path(tmp) / "server.log").read_text(errors="replace")[-2000:], file=sys.stderr)


if __name__ == "__main__":
    main()
