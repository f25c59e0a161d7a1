"""The owner answers a pending draft from Telegram (not the panel): the draft is closed as sent,
unchanged (the bot's words) or edited (the owner's words, an `edited` preference pair)."""

from __future__ import annotations

import pytest

from settings import Settings
from storage import Database
from storage import messages as message_queries
from storage import replies as reply_queries
from testdata.doubles import ManualClock, wait_until
from testdata.telegram_fake import FakeTelegram, make_message, wait_dispatched
from tests.bot.live_bot import PARTNER, feed, logged, set_mode
from training.data.preference_pairs import preference_pair_counts


async def test_a_draft_edited_in_telegram_is_closed_as_edited(bot, server: FakeTelegram, db: Database,
                                                              clock: ManualClock, settings: Settings) -> None:
    await set_mode(db, PARTNER, "draft")
    await feed(bot, server.new_message_update(make_message(1, PARTNER, text="are you free tonight?")))
    await wait_until(logged(db, 1), clock=clock)
    await feed(bot, server.new_message_update(make_message(2, PARTNER, text="for the cinema")))
    await wait_until(logged(db, 2), clock=clock)
    older, newest = sorted(await reply_queries.list_drafts(db), key=lambda d: d.id)
    assert (older.status, newest.status) == ("pending", "pending")

    # The owner changes the suggestion in the input box and sends it from the phone.
    await feed(bot, server.new_message_update(make_message(3, PARTNER, text="only after 8, which film?", out=True)))
    await wait_dispatched(bot.client)

    closed = await reply_queries.get_draft(db, newest.id)
    assert (closed.status, closed.sent_text) == ("sent", "only after 8, which film?")
    assert (await reply_queries.get_draft(db, older.id)).status == "discarded"  # replaced in the input box
    assert (await message_queries.get_message(db, PARTNER, 3)).authored_by == "human"
    counts = await preference_pair_counts(db, settings)
    assert (counts.edited, counts.own_reply) == (1, 0)


@pytest.mark.parametrize("sent", [["sure\ntalk later"], ["sure", "talk later"]], ids=["one message", "two messages"])
async def test_a_draft_sent_unchanged_from_telegram_is_the_bots_words(bot, server: FakeTelegram, db: Database,
                                                                      clock: ManualClock, sent: list[str]) -> None:
    await set_mode(db, PARTNER, "draft")
    await feed(bot, server.new_message_update(make_message(1, PARTNER, text="are you free?")))
    await wait_until(logged(db, 1), clock=clock)
    owner_ids = list(range(2, 2 + len(sent)))
    for message_id, text in zip(owner_ids, sent, strict=True):
        await feed(bot, server.new_message_update(make_message(message_id, PARTNER, text=text, out=True)))
    await wait_dispatched(bot.client)

    [draft] = await reply_queries.list_drafts(db)
    assert (draft.status, draft.sent_text) == ("sent", draft.text)
    assert [(await message_queries.get_message(db, PARTNER, i)).authored_by for i in owner_ids] == \
        ["draft_unchanged"] * len(sent)

    # Once the partner writes again, the owner's next message starts a new turn: the draft's answer stands.
    await set_mode(db, PARTNER, "off")
    after = owner_ids[-1] + 1
    await feed(bot, server.new_message_update(make_message(after, PARTNER, text="great")))
    await feed(bot, server.new_message_update(make_message(after + 1, PARTNER, text="see you", out=True)))
    await wait_dispatched(bot.client)
    assert (await reply_queries.get_draft(db, draft.id)).sent_text == draft.text
    assert (await message_queries.get_message(db, PARTNER, after + 1)).authored_by == "human"
