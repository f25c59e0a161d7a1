"""Harvest through the real kurigram history iterator against the fake server."""

from __future__ import annotations

import pytest
from pyrogram import raw, utils

from bot.harvest import harvest, harvest_chat_history
from storage import Database
from storage import chats as chat_queries
from storage import messages as message_queries
from testdata.telegram_fake import (
    OWNER_ID,
    FakeTelegram,
    InjectedError,
    SimulatedCrash,
    make_message,
    make_service_message,
    make_user,
    photo_media,
    sticker_media,
    voice_media,
)

PARTNER = 5
T0 = 1_700_000_000


def _fill(server: FakeTelegram, chat_id: int, n: int, first_id: int = 1) -> None:
    server.add_user(make_user(chat_id, "Alice", "Smith"))
    server.set_history(chat_id, [
        make_message(i, chat_id, text=f"m{i}", out=i % 3 == 0, date=T0 + i * 60)
        for i in range(first_id, first_id + n)
    ])


async def _stored_ids(db: Database, chat_id: int) -> list[int]:
    return [m.message_id async for m in message_queries.iter_chat_messages(db, chat_id)]


async def test_harvest_stores_whole_history_in_chunks(client, server: FakeTelegram, db: Database) -> None:
    _fill(server, PARTNER, 250)
    progress: list[int] = []
    result = await harvest_chat_history(client, db, PARTNER, owner_id=OWNER_ID,
                                        on_progress=lambda chat, n: progress.append(n))
    assert result.complete and result.stored == 250
    assert await _stored_ids(db, PARTNER) == list(range(1, 251))
    assert progress == [100, 200, 250]  # one commit per chunk of 100
    pages = server.sent(raw.functions.messages.GetHistory)
    assert all(p.limit == 100 for p in pages)
    chat = await chat_queries.get_chat(db, PARTNER)
    assert (chat.type, chat.title, chat.reply_mode) == ("private", "Alice Smith", "off")
    row = await message_queries.get_message(db, PARTNER, 3)
    assert row is not None and row.outgoing and row.sender_id == OWNER_ID and row.text == "m3"
    state = await message_queries.get_sync_state(db, PARTNER)
    assert state is not None and (state.oldest_id, state.newest_id, state.complete) == (1, 250, True)


async def test_harvest_resumes_from_watermark_after_crash(client, server: FakeTelegram, db: Database) -> None:
    _fill(server, PARTNER, 350)
    server.fail_after_history_pages = 2  # dies while fetching the third page
    with pytest.raises(SimulatedCrash):
        await harvest_chat_history(client, db, PARTNER, owner_id=OWNER_ID)
    assert await _stored_ids(db, PARTNER) == list(range(151, 351))  # two whole chunks, nothing half-written
    state = await message_queries.get_sync_state(db, PARTNER)
    assert state is not None and (state.oldest_id, state.newest_id, state.complete) == (151, 350, False)

    server.fail_after_history_pages = None
    server.requests.clear()
    # New messages arrived meanwhile: they are fetched too, above the watermark.
    for i in range(351, 356):
        server.history[PARTNER].insert(0, make_message(i, PARTNER, text=f"m{i}", date=T0 + i * 60))
    result = await harvest_chat_history(client, db, PARTNER, owner_id=OWNER_ID)
    assert result.complete
    assert await _stored_ids(db, PARTNER) == list(range(1, 356))
    first_resume_page = [p for p in server.sent(raw.functions.messages.GetHistory) if p.max_id][0]
    assert first_resume_page.max_id == 151  # continues right below the watermark, not from the top
    assert result.stored == 155  # 5 new + 150 older; nothing refetched twice

    # A finished chat costs one request and stores nothing new.
    server.requests.clear()
    again = await harvest_chat_history(client, db, PARTNER, owner_id=OWNER_ID)
    assert again.stored == 0 and len(server.sent(raw.functions.messages.GetHistory)) == 1


async def test_short_flood_wait_is_slept_by_kurigram(client, server: FakeTelegram, db: Database, flood_sleeps) -> None:
    _fill(server, PARTNER, 120)
    server.errors.append(InjectedError(raw.functions.messages.GetHistory, "FLOOD_WAIT_5"))
    result = await harvest_chat_history(client, db, PARTNER, owner_id=OWNER_ID)
    assert result.complete and result.stored == 120
    assert flood_sleeps.slept == [5]


async def test_long_flood_wait_is_slept_and_harvest_continues(client, server: FakeTelegram, db: Database,
                                                               caplog) -> None:
    _fill(server, PARTNER, 250)
    server.fail_after_history_pages = None
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    # The second page answers FLOOD_WAIT_120: above kurigram's 60 s threshold, so it reaches us.
    original = server.answer
    calls = {"n": 0}

    def answer(query):
        if isinstance(query, raw.functions.messages.GetHistory):
            calls["n"] += 1
            if calls["n"] == 2:
                server.requests.append(query)
                return raw.types.RpcError(error_code=420, error_message="FLOOD_WAIT_120")
        return original(query)

    server.answer = answer  # type: ignore[method-assign]
    result = await harvest_chat_history(client, db, PARTNER, owner_id=OWNER_ID, sleep=fake_sleep)
    assert slept == [120.0] and result.flood_waits == 1
    assert result.complete and await _stored_ids(db, PARTNER) == list(range(1, 251))
    assert any("FloodWait" in r.getMessage() for r in caplog.records)


async def test_media_captions_stickers_and_service_messages(client, server: FakeTelegram, db: Database) -> None:
    server.add_user(make_user(PARTNER, "Alice"))
    server.set_history(PARTNER, [
        make_message(1, PARTNER, text="look", media=photo_media(), date=T0),
        make_message(2, PARTNER, media=sticker_media("😀"), date=T0 + 1),
        make_message(3, PARTNER, media=voice_media(), date=T0 + 2),
        make_service_message(4, PARTNER, date=T0 + 3),
        make_message(5, PARTNER, text="fwd", forwarded=True, date=T0 + 4, reply_to=1),
        make_message(6, PARTNER, text="edited", date=T0 + 5, edit_date=T0 + 100),
    ])
    result = await harvest_chat_history(client, db, PARTNER, owner_id=OWNER_ID)
    assert result.stored == 5  # the service message is not conversation
    rows = {m.message_id: m async for m in message_queries.iter_chat_messages(db, PARTNER)}
    assert (rows[1].media, rows[1].text) == ("photo", "look")
    assert (rows[2].media, rows[2].text) == ("sticker", "😀")
    assert (rows[3].media, rows[3].text) == ("voice", "")
    assert 4 not in rows
    assert rows[5].forwarded and rows[5].reply_to == 1
    assert rows[6].edited_at == T0 + 100
    assert all(r.sender_name == "Alice" for r in rows.values())


async def test_harvest_all_private_skips_bots_and_groups(client, server: FakeTelegram, db: Database) -> None:
    from testdata.telegram_fake import make_group

    _fill(server, PARTNER, 3)
    _fill(server, 6, 2)
    server.add_user(make_user(7, "Helper", bot=True))
    server.set_history(7, [make_message(1, 7, text="bot says", date=T0)])
    server.add_chat(-42, make_group(42, "Family"))
    server.set_history(-42, [make_message(1, -42, text="hi all", sender_id=PARTNER, date=T0)])
    results = await harvest(client, db, [-42], all_private=True)
    assert sorted(r.chat_id for r in results) == [-42, PARTNER, 6]
    group = await chat_queries.get_chat(db, -42)
    assert (group.type, group.title) == ("group", "Family")


async def test_chat_ids_and_types_follow_kurigram(client, server: FakeTelegram, db: Database) -> None:
    from testdata.telegram_fake import make_channel

    server.add_user(make_user(PARTNER, "Alice"))
    supergroup, channel = utils.get_channel_id(1234), utils.get_channel_id(5678)  # -100… ids
    server.add_chat(supergroup, make_channel(1234, "Team"))
    server.add_chat(channel, make_channel(5678, "News", broadcast=True))
    server.set_history(supergroup, [make_message(1, supergroup, text="standup?", sender_id=PARTNER, date=T0)])
    server.set_history(channel, [make_message(1, channel, text="post", sender_id=PARTNER, date=T0)])
    server.set_history(OWNER_ID, [make_message(1, OWNER_ID, text="note to self", out=True, date=T0)])
    await harvest(client, db, [supergroup, channel, OWNER_ID])
    types = {c.id: c.type for c in await chat_queries.list_chats(db)}
    assert types == {supergroup: "supergroup", channel: "channel", OWNER_ID: "self"}


async def test_harvested_rows_equal_imported_rows(client, server: FakeTelegram, db: Database) -> None:
    """The same messages from a Telegram Desktop export and from the API give identical rows."""
    from telegram_export.rows import message_row as export_row

    server.add_user(make_user(PARTNER, "Alice", "Smith"))
    server.set_history(PARTNER, [
        make_message(1, PARTNER, text="look", media=photo_media(), date=T0),
        make_message(2, PARTNER, media=sticker_media("😀"), date=T0 + 1),
        make_message(3, PARTNER, media=voice_media(), date=T0 + 2),
        make_message(4, PARTNER, text="fwd", forwarded=True, reply_to=1, date=T0 + 3),
        make_message(5, PARTNER, text="mine", out=True, edit_date=T0 + 60, date=T0 + 4),
    ])
    owner = {"from": "Owner", "from_id": f"user{OWNER_ID}"}
    alice = {"from": "Alice Smith", "from_id": f"user{PARTNER}"}
    exported = [
        {"id": 1, "type": "message", "date_unixtime": str(T0), **alice, "text": "look", "photo": "photos/1.jpg"},
        {"id": 2, "type": "message", "date_unixtime": str(T0 + 1), **alice, "text": "", "file": "s.webp",
         "media_type": "sticker", "sticker_emoji": "😀"},
        {"id": 3, "type": "message", "date_unixtime": str(T0 + 2), **alice, "text": "", "file": "v.ogg",
         "media_type": "voice_message"},
        {"id": 4, "type": "message", "date_unixtime": str(T0 + 3), **alice, "text": "fwd",
         "forwarded_from": "Someone", "reply_to_message_id": 1},
        {"id": 5, "type": "message", "date_unixtime": str(T0 + 4), "edited_unixtime": str(T0 + 60), **owner,
         "text": "mine"},
    ]
    await harvest_chat_history(client, db, PARTNER, owner_id=OWNER_ID)
    harvested = [m async for m in message_queries.iter_chat_messages(db, PARTNER)]
    assert harvested == [export_row(m, PARTNER, OWNER_ID) for m in exported]
