"""Catch-up after downtime, through a real kurigram client with a session file on the fake server:
the bot is stopped, messages/edits/deletes happen, the bot starts: everything is stored and the
backlog policy decides (one reply per chat at most; old messages drafted, never sent)."""

from __future__ import annotations

import asyncio
import time

from pydantic import SecretStr
from pyrogram import raw

from settings import Settings
from storage import ChatRow, Database
from storage import chats as chat_queries
from storage import messages as message_queries
from storage import replies as reply_queries
from testdata.doubles import FakeModel, ManualClock, wait_until
from testdata.telegram_fake import API_HASH, API_ID, FakeTelegram, make_message, make_user
from tests.bot.live_bot import run_bot, write_session_file

OLD, FRESH = 5, 6
SendMessage, SaveDraft = raw.functions.messages.SendMessage, raw.functions.messages.SaveDraft


async def test_missed_messages_edits_and_deletes_are_recovered_and_the_backlog_policy_applies(
        settings: Settings, db: Database, server: FakeTelegram, flood_sleeps) -> None:
    settings = settings.model_copy(update={
        "api_id": API_ID, "api_hash": SecretStr(API_HASH), "debounce_seconds": 8.0, "takeover_minutes": 15,
        "backlog_answer_minutes": 10, "backlog_mode": "draft",
    })
    await write_session_file(settings)
    server.add_user(make_user(OLD, "Olga"))
    server.add_user(make_user(FRESH, "Fedor"))
    model, clock = FakeModel(["sure"]), ManualClock(start=time.time())

    # First run: one exchange is stored live, then the bot stops.
    earlier = int(clock.now()) - 5 * 3600
    async with run_bot(settings, db, model, clock) as bot:
        await bot.client.handle_updates(server.new_message_update(make_message(1, OLD, text="hello", date=earlier)))
        await bot.client.handle_updates(server.new_message_update(
            make_message(2, OLD, text="hi!", out=True, date=earlier + 60)))
        await wait_until(lambda: message_queries.get_message(db, OLD, 2))
    for chat_id, title in ((OLD, "Olga"), (FRESH, "Fedor")):
        await chat_queries.upsert_chats(db, [ChatRow(chat_id, "private", title)])
        await chat_queries.update_chat_settings(db, chat_id, reply_mode="auto")

    # While stopped: an old question, an edit, a deletion, and a fresh burst of two in another chat.
    now = int(clock.now())
    server.new_message_update(make_message(3, OLD, text="are you there?", date=now - 3 * 3600))
    server.edit_message_update(make_message(1, OLD, text="hello (edited)", date=now - 4 * 3600, edit_date=now - 3600))
    server.delete_messages_update([2])
    server.new_message_update(make_message(4, FRESH, text="hey", date=now - 120))
    server.new_message_update(make_message(5, FRESH, text="call me?", date=now - 60))

    async with run_bot(settings, db, model, clock) as bot:
        async def decided() -> bool:
            return len(await reply_queries.list_decisions(db)) >= 3
        await wait_until(decided, clock=clock)
        await bot.pipeline.idle()

    assert (await message_queries.get_message(db, OLD, 3)).text == "are you there?"
    edited = await message_queries.get_message(db, OLD, 1)
    assert edited.text == "hello (edited)" and edited.edited_at == now - 3600
    assert (await message_queries.get_message(db, OLD, 2)).deleted
    assert [m.message_id for m in await message_queries.recent_messages(db, FRESH, 10)][:2] == [4, 5]

    log = {(d.chat_id, d.message_id): (d.decision, d.reason) for d in await reply_queries.list_decisions(db)}
    assert log[(OLD, 3)][0] == "drafted" and "backlog" in log[(OLD, 3)][1]
    assert log[(FRESH, 4)] == ("skipped", "debounced into message 5")
    assert log[(FRESH, 5)][0] == "answered"
    sends = server.sent(SendMessage)
    assert len(sends) == 1 and sends[0].peer.user_id == FRESH  # one reply, for the fresh burst only
    assert [d.peer.user_id for d in server.sent(SaveDraft)] == [OLD]
    bot_row = await message_queries.get_message(db, FRESH, server.last_message_id)
    assert bot_row is not None and bot_row.authored_by == "bot"


async def test_reconnect_recovers_what_was_missed(settings: Settings, db: Database, server: FakeTelegram,
                                                 flood_sleeps) -> None:
    settings = settings.model_copy(update={"api_id": API_ID, "api_hash": SecretStr(API_HASH)})
    await write_session_file(settings)
    server.add_user(make_user(OLD, "Olga"))
    async with run_bot(settings, db, FakeModel(), ManualClock()) as bot:
        for _ in range(3):
            await asyncio.sleep(0)
        server.new_message_update(make_message(1, OLD, text="sent while the network was down"))
        # kurigram calls the connect handler each time its network session (re)starts.
        await bot.client.connect_handler(bot.client, bot.client.session)
        await wait_until(lambda: message_queries.get_message(db, OLD, 1))


async def test_messages_the_difference_lost_are_read_from_history(settings: Settings, db: Database,
                                                                  server: FakeTelegram, flood_sleeps) -> None:
    """Telegram's difference came back empty (too long a downtime, or a harvest moved the state):
    the whitelisted chat's history past its newest stored message fills the gap, once."""
    settings = settings.model_copy(update={"api_id": API_ID, "api_hash": SecretStr(API_HASH),
                                           "backlog_answer_minutes": 10, "backlog_mode": "skip"})
    await write_session_file(settings)
    server.add_user(make_user(OLD, "Olga"))
    earlier = int(time.time()) - 5 * 3600
    first = make_message(1, OLD, text="hello", date=earlier)
    async with run_bot(settings, db, FakeModel(), ManualClock()) as bot:
        await bot.client.handle_updates(server.new_message_update(first))
        await wait_until(lambda: message_queries.get_message(db, OLD, 1))
    await chat_queries.update_chat_settings(db, OLD, reply_mode="auto")
    missed = make_message(2, OLD, text="still there?", date=earlier + 3600)
    server.set_history(OLD, [first, missed])  # in the chat, but in no update the client will get

    async with run_bot(settings, db, FakeModel(), ManualClock()) as bot:
        await wait_until(lambda: message_queries.get_message(db, OLD, 2))
    [decision] = [d for d in await reply_queries.list_decisions(db, chat_id=OLD) if d.message_id == 2]
    assert decision.decision == "skipped" and "backlog" in decision.reason
    assert not server.sent(SendMessage)


async def test_edits_and_deletes_the_difference_lost_are_read_from_history(settings: Settings, db: Database,
                                                                           server: FakeTelegram, flood_sleeps) -> None:
    """No difference to replay (no saved state, or "too long"): the active chat's recent history is
    compared with the store. Missed messages are added, edits stored, vanished messages deleted."""
    settings = settings.model_copy(update={"api_id": API_ID, "api_hash": SecretStr(API_HASH),
                                           "backlog_answer_minutes": 10, "backlog_mode": "skip"})
    await write_session_file(settings)
    server.add_user(make_user(OLD, "Olga"))
    earlier = int(time.time()) - 5 * 3600
    kept, edited, deleted, edited_live = (
        make_message(i, OLD, text=f"message {i}", date=earlier + i) for i in range(1, 5))
    async with run_bot(settings, db, FakeModel(), ManualClock()) as bot:
        for message in (kept, edited, deleted, edited_live):
            await bot.client.handle_updates(server.new_message_update(message))
        # The last one was edited live, after the server's history below was read.
        await bot.client.handle_updates(server.edit_message_update(
            make_message(4, OLD, text="message 4, edited live", date=earlier + 4, edit_date=earlier + 600)))
        await wait_until(lambda: message_queries.get_message(db, OLD, 4), what="message 4 stored")

        async def edited_live_stored() -> bool:
            row = await message_queries.get_message(db, OLD, 4)
            return row is not None and row.edited_at == earlier + 600
        await wait_until(edited_live_stored)
    await chat_queries.update_chat_settings(db, OLD, reply_mode="auto")
    # While stopped, in no update the client will get: message 2 edited, 3 deleted, 5 new.
    server.set_history(OLD, [
        kept,
        make_message(2, OLD, text="message 2 (edited)", date=earlier + 2, edit_date=earlier + 3600),
        make_message(4, OLD, text="message 4, an older copy", date=earlier + 4, edit_date=earlier + 300),
        make_message(5, OLD, text="still there?", date=earlier + 3600),
    ])

    async with run_bot(settings, db, FakeModel(), ManualClock()):
        await wait_until(lambda: message_queries.get_message(db, OLD, 5), what="the missed message stored")

    rows = {i: await message_queries.get_message(db, OLD, i) for i in range(1, 6)}
    assert rows[2].text == "message 2 (edited)" and rows[2].edited_at == earlier + 3600 and not rows[2].deleted
    assert rows[3].deleted and not rows[1].deleted and not rows[5].deleted
    assert rows[4].text == "message 4, edited live"  # an older copy never overwrites a newer edit
    assert rows[1].text == "message 1" and rows[5].text == "still there?"
