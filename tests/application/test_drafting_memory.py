"""The panel's suggest gets memory through the same context as the bot, and the draft records what
was recalled (ids only); sending it carries those ids into the reply log."""

from __future__ import annotations

import time

from application.drafting import send_draft, suggest_draft
from services import Services
from settings import Settings
from storage import ChatRow, Database, MessageRow
from storage import chats as chat_queries
from storage import messages as message_queries
from storage import replies as reply_queries
from testdata.doubles import FakeModel
from tests.admin_ui.fakes import FakeTelegram

ANNA = 12


async def test_a_suggested_draft_records_memory_and_sending_logs_it(db: Database, settings: Settings) -> None:
    month_ago = int(time.time()) - 30 * 86_400
    await chat_queries.upsert_chats(db, [ChatRow(ANNA, "private", "Anna")])
    await chat_queries.update_chat_settings(db, ANNA, reply_mode="draft")
    await message_queries.insert_messages(db, [
        MessageRow(ANNA, 1, ANNA, "Anna", False, month_ago, "the wedding is in Porto"),
        MessageRow(ANNA, 2, 1, None, True, month_ago + 60, "porto in june, wow"),
    ], "export")
    model = FakeModel(["yes!"])
    services = Services(settings=settings, db=db, model=model, telegram=FakeTelegram())  # type: ignore[arg-type]
    suggestion = await suggest_draft(services, ANNA, "still going to Porto?")
    assert [m.message_ids for m in model.dialogues[0].memory] == [(1, 2)]
    assert suggestion.draft.memory_message_ids == [1, 2]
    await send_draft(services, suggestion.draft.id)
    [entry] = await reply_queries.list_decisions(db, ANNA)
    assert entry.decision == "answered" and entry.memory_message_ids == [1, 2]
