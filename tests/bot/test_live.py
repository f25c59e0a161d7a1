"""Live sync and the auto-reply pipeline, through a real kurigram client on the fake server:
updates go in through `client.handle_updates`; we assert on the raw requests that come out."""

from __future__ import annotations

import asyncio
import logging

import pytest
from pyrogram import raw

from bot.client import build_client
from bot.runtime import TelegramBot
from services import Services
from settings import Settings
from storage import Database, kv
from storage import chats as chat_queries
from storage import messages as message_queries
from storage import replies as reply_queries
from testdata.doubles import FakeModel, ManualClock, wait_until
from testdata.telegram_fake import (
    OWNER_ID,
    FakeTelegram,
    make_group,
    make_message,
    make_user,
    session_string,
    wait_dispatched,
)
from tests.bot.live_bot import PARTNER, decisions, feed, logged, set_mode

SendMessage, SetTyping, SaveDraft = (raw.functions.messages.SendMessage, raw.functions.messages.SetTyping,
                                     raw.functions.messages.SaveDraft)


async def test_live_sync_stores_new_edited_deleted_and_outgoing(bot, server: FakeTelegram, db: Database) -> None:
    await feed(bot, server.new_message_update(make_message(1, PARTNER, text="hello")))
    await feed(bot, server.new_message_update(make_message(2, PARTNER, text="mine", out=True)))
    await wait_until(lambda: message_queries.get_message(db, PARTNER, 2))
    await feed(bot, server.edit_message_update(make_message(1, PARTNER, text="hello there", edit_date=1_800_000_000)))

    async def edited() -> bool:
        row = await message_queries.get_message(db, PARTNER, 1)
        return row is not None and row.text == "hello there"
    await wait_until(edited)
    row = await message_queries.get_message(db, PARTNER, 1)
    assert row is not None and row.edited_at == 1_800_000_000 and not row.outgoing
    own = await message_queries.get_message(db, PARTNER, 2)
    assert own is not None and own.outgoing and own.sender_id == OWNER_ID

    await feed(bot, server.delete_messages_update([1]))

    async def deleted() -> bool:
        row = await message_queries.get_message(db, PARTNER, 1)
        return row is not None and row.deleted
    await wait_until(deleted)
    chat = await chat_queries.get_chat(db, PARTNER)
    assert (chat.type, chat.reply_mode) == ("private", "off")


async def test_non_whitelisted_chat_gets_nothing(bot, server: FakeTelegram, db: Database, clock: ManualClock,
                                                 model: FakeModel) -> None:
    server.add_chat(-42, make_group(42, "Family"))
    await feed(bot, server.new_message_update(make_message(1, PARTNER, text="hi")))
    await feed(bot, server.new_message_update(make_message(2, -42, text="hi all", sender_id=PARTNER)))
    await wait_until(logged(db, 2))
    clock.advance(60)
    await asyncio.sleep(0.01)
    assert not server.sent(SendMessage) and not server.sent(SetTyping) and not server.sent(SaveDraft)
    assert model.dialogues == []
    assert [d[1:] for d in await decisions(db)] == [("skipped", "chat is not whitelisted (mode off)")] * 2


async def test_burst_of_five_answered_once_with_two_messages(bot, server: FakeTelegram, db: Database,
                                                             clock: ManualClock, model: FakeModel) -> None:
    await set_mode(db, PARTNER, "auto")
    for i in range(1, 6):
        await feed(bot, server.new_message_update(make_message(i, PARTNER, text=f"part {i}")))
        await wait_until(lambda i=i: message_queries.get_message(db, PARTNER, i))
        clock.advance(1)
        await feed(bot, server.typing_update(PARTNER))  # still writing
    await asyncio.sleep(0.01)
    assert not server.sent(SendMessage) and not model.dialogues  # still within the debounce window

    await wait_until(logged(db, 5), clock=clock)
    assert len(model.dialogues) == 1
    last_turn = model.dialogues[0].turns[-1]
    assert last_turn.role == "partner" and last_turn.messages == tuple(f"part {i}" for i in range(1, 6))

    sends = server.sent(SendMessage)
    assert [s.message for s in sends] == ["sure", "talk later"]
    kinds = [type(r).__name__ for r in server.requests if isinstance(r, (SendMessage, SetTyping))]
    assert kinds[0] == "SetTyping" and kinds.index("SendMessage") < len(kinds) - 1  # typing before each message
    assert kinds[-1] == "SendMessage" and kinds[-2] == "SetTyping"

    log = await decisions(db)
    assert [d[:2] for d in log] == [(i, "skipped") for i in range(1, 5)] + [(5, "answered")]
    assert all(d[2] == "debounced into message 5" for d in log[:4])
    entry = (await reply_queries.list_decisions(db))[0]
    assert len(entry.sent_message_ids) == 2
    stored = [await message_queries.get_message(db, PARTNER, mid) for mid in entry.sent_message_ids]
    assert [(m.text, m.outgoing) for m in stored if m] == [("sure", True), ("talk later", True)]


async def test_draft_mode_saves_draft_and_sends_nothing(bot, server: FakeTelegram, db: Database,
                                                        clock: ManualClock) -> None:
    await set_mode(db, PARTNER, "draft")
    await feed(bot, server.new_message_update(make_message(1, PARTNER, text="are you free?")))
    await wait_until(logged(db, 1), clock=clock)
    assert not server.sent(SendMessage)
    [save] = server.sent(SaveDraft)
    assert save.message == "sure\ntalk later" and save.peer.user_id == PARTNER
    [draft] = await reply_queries.list_drafts(db)
    assert draft.trigger_message_id == 1 and draft.status == "pending"
    assert (await decisions(db))[0][1] == "drafted"
    # Our own SaveDraft coming back as an update is not the owner typing.
    await feed(bot, server.draft_update(PARTNER, "sure\ntalk later"))
    await feed(bot, server.new_message_update(make_message(2, PARTNER, text="hello?")))
    await wait_until(logged(db, 2), clock=clock)
    assert (await decisions(db))[1][1] == "drafted"


@pytest.mark.parametrize("owner_signal", ["message", "draft"])
async def test_owner_takeover_silences_the_bot(bot, server: FakeTelegram, db: Database, clock: ManualClock,
                                               owner_signal: str) -> None:
    await set_mode(db, PARTNER, "auto")
    await feed(bot, server.new_message_update(make_message(1, PARTNER, text="you there?")))
    await wait_until(lambda: message_queries.get_message(db, PARTNER, 1))
    clock.advance(2)
    if owner_signal == "message":  # the owner answers from the phone during the debounce
        await feed(bot, server.new_message_update(make_message(2, PARTNER, text="yes!", out=True)))
    else:  # or is typing it: the draft syncs across devices
        await feed(bot, server.draft_update(PARTNER, "yes, I'm"))
    await asyncio.sleep(0.01)
    await wait_until(logged(db, 1), clock=clock)
    assert not server.sent(SendMessage) and not server.sent(SaveDraft)
    [(_, decision, reason)] = await decisions(db)
    assert decision == "skipped" and "owner takeover" in reason

    # 16 minutes later the owner is gone: the bot answers again.
    clock.advance(16 * 60)
    await feed(bot, server.new_message_update(make_message(3, PARTNER, text="ok bye")))
    await wait_until(logged(db, 2), clock=clock)
    assert (await decisions(db))[1][1] == "answered"


async def test_loop_guard_falls_back_to_draft(bot, server: FakeTelegram, db: Database, clock: ManualClock) -> None:
    await set_mode(db, PARTNER, "auto")
    for i in range(1, 4):
        await feed(bot, server.new_message_update(make_message(server.next_message_id(), PARTNER, text=f"ping {i}")))
        await wait_until(logged(db, i), clock=clock)
    assert [d[1] for d in await decisions(db)] == ["answered", "answered", "drafted"]
    assert "loop guard" in (await decisions(db))[2][2]
    assert len(server.sent(SaveDraft)) == 1
    # The owner writes: the guard resets (after the takeover window, auto again).
    owner_id = server.next_message_id()
    await feed(bot, server.new_message_update(make_message(owner_id, PARTNER, text="me", out=True)))
    await wait_until(lambda: message_queries.get_message(db, PARTNER, owner_id))
    clock.advance(16 * 60)
    await feed(bot, server.new_message_update(make_message(server.next_message_id(), PARTNER, text="ping 5")))
    await wait_until(logged(db, 4), clock=clock)
    assert (await decisions(db))[3][1] == "answered"


async def test_whitelist_and_kill_switch_change_live(bot, server: FakeTelegram, db: Database,
                                                     clock: ManualClock) -> None:
    await feed(bot, server.new_message_update(make_message(1, PARTNER, text="one")))
    await wait_until(logged(db, 1), clock=clock)
    await chat_queries.update_chat_settings(db, PARTNER, reply_mode="auto")  # as the panel does
    await feed(bot, server.new_message_update(make_message(2, PARTNER, text="two")))
    await wait_until(logged(db, 2), clock=clock)
    await kv.set_value(db, kv.AUTOREPLY_ENABLED, False)
    await feed(bot, server.new_message_update(make_message(server.next_message_id(), PARTNER, text="three")))
    await wait_until(logged(db, 3), clock=clock)
    assert [d[1] for d in await decisions(db)] == ["skipped", "answered", "skipped"]
    assert "globally" in (await decisions(db))[2][2]


async def test_bots_forwards_and_unlisted_groups_are_skipped(bot, server: FakeTelegram, db: Database,
                                                             clock: ManualClock) -> None:
    server.add_user(make_user(7, "Helper", bot=True))
    server.add_user(make_user(777000, "Telegram"))
    await set_mode(db, 7, "auto", "bot")
    await set_mode(db, PARTNER, "auto")
    server.add_chat(-42, make_group(42, "Family"))
    await feed(bot, server.new_message_update(make_message(1, 7, text="I am a bot")))
    await feed(bot, server.new_message_update(make_message(1, 777000, text="Login code: 12345")))
    await feed(bot, server.new_message_update(make_message(2, PARTNER, text="fwd", forwarded=True)))
    await feed(bot, server.new_message_update(make_message(3, -42, text="hi all", sender_id=PARTNER)))
    await wait_until(logged(db, 2), clock=clock)
    await wait_dispatched(bot.client)
    reasons = [d[2] for d in await decisions(db)]
    assert reasons == ["forwarded message", "chat is not whitelisted (mode off)"]  # bots/service: not even seen
    assert await message_queries.get_message(db, 7, 1) is None
    assert await message_queries.get_message(db, 777000, 1) is None
    assert not server.sent(SendMessage)


async def test_failed_reply_is_logged_and_the_bot_keeps_going(bot, server: FakeTelegram, db: Database,
                                                              clock: ManualClock, model: FakeModel, caplog) -> None:
    await set_mode(db, PARTNER, "auto")
    model.fail_next = 1
    await feed(bot, server.new_message_update(make_message(1, PARTNER, text="first")))
    await wait_until(logged(db, 1), clock=clock)
    assert (await decisions(db))[0][1:] == ("error", "error: RuntimeError")
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert failures and "chat 5 message 1" in failures[0].getMessage()
    caplog.clear()  # the error above was expected
    await feed(bot, server.new_message_update(make_message(server.next_message_id(), PARTNER, text="second")))
    await wait_until(logged(db, 2), clock=clock)
    assert (await decisions(db))[1][1] == "answered"


async def test_gateway_sends_as_owner_and_saves_drafts(bot, server: FakeTelegram, db: Database) -> None:
    await set_mode(db, PARTNER, "draft")
    assert bot.gateway.connected
    ids = await bot.gateway.send_messages(PARTNER, ["one", "two"])
    assert len(ids) == 2 and [s.message for s in server.sent(SendMessage)] == ["one", "two"]
    await bot.gateway.save_draft(PARTNER, "draft text")
    assert server.sent(SaveDraft)[-1].message == "draft text"
    row = await message_queries.get_message(db, PARTNER, ids[0])
    assert row is not None and row.outgoing and row.text == "one"


async def test_partner_typing_extends_the_debounce(bot, server: FakeTelegram, db: Database, clock: ManualClock) -> None:
    await set_mode(db, PARTNER, "auto")
    await feed(bot, server.new_message_update(make_message(1, PARTNER, text="so…")))
    await wait_until(lambda: clock.sleeping == 1)  # debounce running: due at t+8
    clock.advance(6)
    await feed(bot, server.typing_update(PARTNER))  # still typing at t+6 → due at t+14
    await wait_dispatched(bot.client)
    clock.advance(3)  # t+9: the first deadline passed, the partner is still considered writing
    await wait_until(lambda: clock.sleeping == 1)
    assert not server.sent(SetTyping) and not server.sent(SendMessage)
    clock.advance(5)  # t+14
    await wait_until(logged(db, 1), clock=clock)
    assert (await decisions(db))[0][1] == "answered"


async def test_gateway_harvests_private_chats_for_the_panel(bot, server: FakeTelegram, db: Database) -> None:
    from application.ingest import HarvestingGateway

    server.set_history(PARTNER, [make_message(i, PARTNER, text=f"m{i}", date=1_700_000_000 + i) for i in range(1, 4)])
    assert isinstance(bot.gateway, HarvestingGateway)
    reports: list[tuple[float | None, str | None]] = []
    results = await bot.gateway.harvest(progress=lambda fraction, label: reports.append((fraction, label)))
    assert [(r.chat_id, r.stored, r.complete) for r in results] == [(PARTNER, 3, True)]
    assert reports[0][0] == 0.0 and reports[-1][0] == 1.0


async def test_a_message_delivered_again_is_decided_once(bot, server: FakeTelegram, db: Database,
                                                         clock: ManualClock, model: FakeModel) -> None:
    """Telegram delivers an update again when the catch-up replays what a crashed (kill -9) or
    disconnected client had not confirmed: one reply-log row per message, one reply."""
    await set_mode(db, PARTNER, "auto")
    question = make_message(1, PARTNER, text="are you there?")
    await feed(bot, server.new_message_update(question))
    await wait_until(lambda: clock.sleeping == 1)  # waiting out its debounce
    await feed(bot, server.new_message_update(question))  # again, while in flight
    await wait_until(logged(db, 1), clock=clock)
    await bot.pipeline.idle()
    assert len(server.sent(SendMessage)) == 2  # the reply's two messages

    # A restarted bot (a new pipeline: nothing in memory) is given the decided message once more.
    settings: Settings = bot.services.settings
    client = build_client(settings, session_string=session_string())
    async with TelegramBot(Services(settings=settings, db=db, model=model), client=client, clock=clock) as restarted:
        await feed(restarted, server.new_message_update(question))
        await wait_dispatched(restarted.client)
        clock.advance(60)
        await restarted.pipeline.idle()
    assert [d[:2] for d in await decisions(db)] == [(1, "answered")]
    assert len(server.sent(SendMessage)) == 2 and len(model.dialogues) == 1
