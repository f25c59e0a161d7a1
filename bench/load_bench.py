"""Load bench for live sync + the auto-reply pipeline: a burst of incoming messages across many
chats, through a real kurigram client on the fake transport (testdata/telegram_fake/), the real
TelegramBot (handlers → live sync → policy → debounce → fake model → send/draft → reply log).

    python -m bench.load_bench [--messages 1000] [--chats 50] [--auto 10] [--draft 5] [--waves 4]

`--auto` chats are whitelisted in auto mode, `--draft` in draft mode, the rest are left `off` (a
fifth of them are groups). Messages are pushed in `--waves` waves as fast as the client takes
them; virtual time then moves past the debounce window, so no real sleeping. Prints only what it
measured: messages sent to chats that are not whitelisted, per-chat order, reply-log coverage,
peak memory and wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import tempfile
import time
import tracemalloc
from collections import defaultdict
from pathlib import Path


async def run(n_messages: int, n_chats: int, n_auto: int, n_draft: int, waves: int, seed: int) -> None:
    from pyrogram import raw

    from bot.client import build_client
    from bot.runtime import TelegramBot
    from services import Services
    from settings import load_settings
    from storage import ChatRow, Database
    from storage import chats as chat_queries
    from storage import messages as message_queries
    from storage import replies as reply_queries
    from testdata.doubles import FakeModel, ManualClock
    from testdata.telegram_fake import (
        FakeTelegram,
        fake_transport,
        make_group,
        make_message,
        make_user,
        session_string,
        wait_dispatched,
    )

    rng = random.Random(seed)
    data_dir = Path(tempfile.mkdtemp(prefix="tgtwin-load-"))
    settings = load_settings(data_dir=data_dir, base_model="tiny", quiet_hours="", rate_per_chat_per_hour=1000,
                             rate_global_per_hour=100_000)
    server = FakeTelegram()
    chat_ids: list[int] = []
    for i in range(n_chats):
        if i % 5 == 4:
            chat_id = -(500 + i)
            server.add_chat(chat_id, make_group(-chat_id, f"Group {i}"))
        else:
            chat_id = 10 + i
            server.add_user(make_user(chat_id, f"Contact{i}"))
        chat_ids.append(chat_id)
    modes = {c: "auto" for c in chat_ids[:n_auto]} | {c: "draft" for c in chat_ids[n_auto:n_auto + n_draft]}
    group_member = make_user(9, "Member")
    server.add_user(group_member)

    # Message plan: per chat, ids ascending; chats interleaved at random.
    plan = [chat_ids[i % n_chats] for i in range(n_messages)]
    rng.shuffle(plan)
    clock = ManualClock()
    fed: dict[int, list[int]] = defaultdict(list)

    tracemalloc.start()
    started = time.perf_counter()
    with fake_transport(server):
        async with Database.open(settings.db_path) as db:
            for chat_id in chat_ids:
                chat_type = "group" if chat_id < 0 else "private"
                await chat_queries.upsert_chats(db, [ChatRow(chat_id, chat_type, str(chat_id))])  # type: ignore[arg-type]
                if chat_id in modes:
                    await chat_queries.update_chat_settings(db, chat_id, reply_mode=modes[chat_id])  # type: ignore[arg-type]
            client = build_client(settings, session_string=session_string())
            services = Services(settings=settings, db=db, model=FakeModel(["sure", "talk later"]))
            async with TelegramBot(services, client=client, clock=clock) as bot:
                pipeline = bot.pipeline
                assert pipeline is not None
                await asyncio.sleep(0)
                per_wave = -(-n_messages // waves)
                for start in range(0, n_messages, per_wave):
                    for chat_id in plan[start:start + per_wave]:
                        message_id = server.next_message_id()
                        sender = group_member.id if chat_id < 0 else chat_id
                        await client.handle_updates(server.new_message_update(
                            make_message(message_id, chat_id, text=f"msg {message_id}", sender_id=sender)))
                        fed[chat_id].append(message_id)
                    await wait_dispatched(client)
                    # Let every debounce window expire, then wait for the replies to finish.
                    while True:
                        clock.advance(settings.debounce_seconds + 10)
                        await asyncio.sleep(0.01)
                        if pipeline.chats_in_flight == 0:
                            break
                await pipeline.idle()
            elapsed = time.perf_counter() - started
            _, peak_py = tracemalloc.get_traced_memory()
            tracemalloc.stop()

            log = list(reversed(await reply_queries.list_decisions(db, limit=n_messages * 2)))
            sends = server.sent(raw.functions.messages.SendMessage)
            drafts = server.sent(raw.functions.messages.SaveDraft)
            sent_to = [_peer_id(s.peer) for s in sends]
            drafted_to = [_peer_id(s.peer) for s in drafts]
            stored_order_ok = True
            for chat_id, ids in fed.items():
                stored = [m.message_id async for m in message_queries.iter_chat_messages(db, chat_id)
                          if not m.outgoing]
                stored_order_ok &= stored == ids
            log_by_chat: dict[int, list[int]] = defaultdict(list)
            for entry in log:
                if entry.message_id is not None:
                    log_by_chat[entry.chat_id].append(entry.message_id)
            log_order_ok = all(log_by_chat[c] == ids for c, ids in fed.items())
            logged = {(e.chat_id, e.message_id) for e in log}
            expected = {(c, m) for c, ids in fed.items() for m in ids}
            counts: dict[str, int] = defaultdict(int)
            for entry in log:
                counts[entry.decision] += 1

    not_whitelisted = [c for c in chat_ids if c not in modes]
    print(f"messages fed:                      {sum(len(v) for v in fed.values())} across {len(fed)} chats "
          f"({n_auto} auto, {n_draft} draft, {len(not_whitelisted)} off) in {waves} waves")
    print(f"sent to non-whitelisted chats:     {sum(1 for c in sent_to if c in not_whitelisted)} messages, "
          f"{sum(1 for c in drafted_to if c in not_whitelisted)} drafts")
    print(f"sent to draft-mode chats:          {sum(1 for c in sent_to if modes.get(c) == 'draft')} messages")
    print(f"SendMessage / SaveDraft requests:  {len(sends)} / {len(drafts)}")
    print(f"per-chat order kept:               stored {stored_order_ok}, reply log {log_order_ok}")
    print(f"reply log coverage:                {len(logged & expected)}/{len(expected)} messages, "
          f"{len(log) - len(logged)} duplicates, {len(logged - expected)} unexpected")
    print(f"reply log decisions:               {dict(sorted(counts.items()))}")
    print(f"model calls:                       {len(services.model.dialogues)}")  # type: ignore[attr-defined]
    print(f"peak Python allocations:           {peak_py / 2**20:.1f} MiB (tracemalloc)")
    print(f"max RSS:                           {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    print(f"wall time:                         {elapsed:.2f} s "
          f"({sum(len(v) for v in fed.values()) / elapsed:.0f} messages/s through fake server + kurigram + pipeline)")


def _peer_id(peer: object) -> int:
    from pyrogram import utils

    return utils.get_peer_id(peer)  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--chats", type=int, default=50)
    parser.add_argument("--auto", type=int, default=10)
    parser.add_argument("--draft", type=int, default=5)
    parser.add_argument("--waves", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    asyncio.run(run(args.messages, args.chats, args.auto, args.draft, args.waves, args.seed))


if __name__ == "__main__":
    main()
