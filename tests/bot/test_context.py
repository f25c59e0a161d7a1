"""The context for `main.py reply` / the panel's Suggest: the session gap rule holds for a typed message."""

from __future__ import annotations

from bot.context import chat_dialogue
from settings import Settings
from storage import Database
from storage import chats as chat_queries
from storage import messages as message_queries
from storage.rows import ChatRow, MessageRow

T0 = 1_700_000_000


async def _chat(db: Database) -> None:
    await chat_queries.upsert_chats(db, [ChatRow(7, "private", "Anna", relationship="sister")])
    rows = [
        MessageRow(7, 1, 7, "Anna", False, T0, "are you coming?"),
        MessageRow(7, 2, 1, None, True, T0 + 60, "yes"),
        MessageRow(7, 3, 7, "Anna", False, T0 + 120, "great"),
    ]
    await message_queries.insert_messages(db, rows, "export")


async def test_a_typed_message_after_the_gap_starts_a_new_session(db: Database, settings: Settings) -> None:
    await _chat(db)
    later = T0 + 120 + settings.session_gap_minutes * 60 + 1
    dialogue = await chat_dialogue(db, settings, 7, "hi, long time no see", now=later)
    assert [t.messages for t in dialogue.turns] == [("hi, long time no see",)]
    assert dialogue.partner_name == "Anna"


async def test_a_typed_message_within_the_gap_continues_the_session(db: Database, settings: Settings) -> None:
    await _chat(db)
    dialogue = await chat_dialogue(db, settings, 7, "at 8?", now=T0 + 180)
    assert [t.messages for t in dialogue.turns] == [("are you coming?",), ("yes",), ("great", "at 8?")]


async def test_without_a_typed_message_the_last_session_is_the_context(db: Database, settings: Settings) -> None:
    await _chat(db)
    dialogue = await chat_dialogue(db, settings, 7, now=T0 + 10**7)
    assert [t.role for t in dialogue.turns] == ["partner", "owner", "partner"]
