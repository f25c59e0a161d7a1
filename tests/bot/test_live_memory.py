"""Memory on the live path, through a real kurigram client on the fake server: Telegram's edits and
deletions reach the memory index, and a reply records which messages memory recalled (ids only)
in the reply log and on its draft."""

from __future__ import annotations

import time

import pytest

from bot.runtime import TelegramBot
from memory import recall, recalled_message_ids
from model.dialogue import Turn
from settings import Settings
from storage import Database, MessageRow
from storage import messages as message_queries
from storage import replies as reply_queries
from testdata.doubles import FakeModel, ManualClock, wait_until
from testdata.telegram_fake import FakeTelegram, make_message
from tests.bot.live_bot import PARTNER, feed, logged, set_mode

WEEK_AGO = int(time.time()) - 7 * 86_400


async def _history(db: Database, mode: str) -> None:
    """A week-old session: the cat's name, and the hamster's (a message Telegram will delete)."""
    await set_mode(db, PARTNER, mode)
    await message_queries.insert_messages(db, [
        MessageRow(PARTNER, 1, PARTNER, "Alice", False, WEEK_AGO, "our cat is called Tom"),
        MessageRow(PARTNER, 2, 1, None, True, WEEK_AGO + 60, "cute!"),
        MessageRow(PARTNER, 3, PARTNER, "Alice", False, WEEK_AGO + 120, "and the hamster is Bob"),
        MessageRow(PARTNER, 4, 1, None, True, WEEK_AGO + 180, "haha"),
    ], "telegram")


def _asking(text: str) -> tuple[Turn, ...]:
    return (Turn("partner", (text,), "Alice", int(time.time())),)


async def test_telegram_edits_and_deletes_reach_memory_and_the_draft_records_its_ids(
    bot: TelegramBot, server: FakeTelegram, db: Database, clock: ManualClock, model: FakeModel, settings: Settings,
) -> None:
    await _history(db, "draft")
    now = int(time.time())
    await feed(bot, server.edit_message_update(
        make_message(1, PARTNER, text="our cat is called Felix", date=WEEK_AGO, edit_date=now)))
    await feed(bot, server.delete_messages_update([3]))

    async def synced() -> bool:
        edited, deleted = (await message_queries.get_message(db, PARTNER, 1)), (
            await message_queries.get_message(db, PARTNER, 3))
        return bool(edited and edited.text.endswith("Felix") and deleted and deleted.deleted)
    await wait_until(synced)
    assert await recall(db, settings, PARTNER, _asking("how is Tom?"), now) == ()  # the old word is gone
    assert await recall(db, settings, PARTNER, _asking("and Bob?"), now) == ()  # deleted: never recalled

    await feed(bot, server.new_message_update(make_message(10, PARTNER, text="how are Felix and Bob?")))
    await wait_until(logged(db, 1), clock=clock)
    [dialogue] = model.dialogues
    assert recalled_message_ids(dialogue.memory) == [1, 2, 4]
    assert [t.text for t in dialogue.memory[0].turns] == ["our cat is called Felix", "cute!\nhaha"]
    [draft] = await reply_queries.list_drafts(db)
    [entry] = await reply_queries.list_decisions(db)
    assert (entry.decision, entry.memory_message_ids, draft.memory_message_ids) == ("drafted", [1, 2, 4], [1, 2, 4])


@pytest.mark.parametrize(("text", "recalled"), [("is Tom still fat?", [1, 2]), ("ok bye", [])])
async def test_an_automatic_answer_records_what_memory_recalled(
    bot: TelegramBot, server: FakeTelegram, db: Database, clock: ManualClock, text: str, recalled: list[int],
) -> None:
    await _history(db, "auto")
    await feed(bot, server.new_message_update(make_message(10, PARTNER, text=text)))
    await wait_until(logged(db, 1), clock=clock)
    [entry] = await reply_queries.list_decisions(db)
    assert entry.decision == "answered" and entry.memory_message_ids == recalled


async def test_an_adapter_trained_without_memory_records_none_though_memory_recalled(
    bot: TelegramBot, server: FakeTelegram, db: Database, clock: ManualClock, model: FakeModel,
) -> None:
    model.format_memory = False  # its prompt has no memory block: nothing recalled reaches it
    await _history(db, "auto")
    await feed(bot, server.new_message_update(make_message(10, PARTNER, text="is Tom still fat?")))
    await wait_until(logged(db, 1), clock=clock)
    [entry] = await reply_queries.list_decisions(db)
    assert recalled_message_ids(model.dialogues[0].memory) == [1, 2]
    assert entry.decision == "answered" and entry.memory_message_ids == []
