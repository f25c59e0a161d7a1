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


DAY = 86_400


async def _chat_with_history(db: Database, mode: str = "draft") -> None:
    """Anna named her dog a week ago; today's session asks about him."""
    await chat_queries.upsert_chats(db, [ChatRow(8, "private", "Anna")])
    await chat_queries.update_chat_settings(db, 8, reply_mode=mode)  # type: ignore[arg-type]
    rows = [
        MessageRow(8, 1, 8, "Anna", False, T0, "we named the dog Rex"),
        MessageRow(8, 2, 1, None, True, T0 + 60, "rex is perfect"),
        MessageRow(8, 3, 8, "Anna", False, T0 + 7 * DAY, "Rex ate my shoe"),
        MessageRow(8, 4, 1, None, True, T0 + 7 * DAY + 60, "bad rex"),
        MessageRow(8, 5, 8, "Anna", False, T0 + 7 * DAY + 120, "so what do I do with Rex?"),
    ]
    await message_queries.insert_messages(db, rows, "export")


async def test_memory_recalls_earlier_sessions_never_the_context_itself(db: Database, settings: Settings) -> None:
    await _chat_with_history(db)
    dialogue = await chat_dialogue(db, settings, 8, now=T0 + 8 * DAY)
    assert [t.text for t in dialogue.turns] == ["Rex ate my shoe", "bad rex", "so what do I do with Rex?"]
    assert [m.message_ids for m in dialogue.memory] == [(1, 2)]
    assert [t.text for t in dialogue.memory[0].turns] == ["we named the dog Rex", "rex is perfect"]


async def test_a_typed_message_that_joins_the_partners_turn_keeps_the_window(db: Database,
                                                                             settings: Settings) -> None:
    await _chat_with_history(db)
    dialogue = await chat_dialogue(db, settings, 8, "Rex!!", now=T0 + 7 * DAY + 180)
    assert dialogue.turns[-1].messages == ("so what do I do with Rex?", "Rex!!")
    assert [m.message_ids for m in dialogue.memory] == [(1, 2)]


async def test_a_typed_message_opening_a_session_may_recall_the_last_one(db: Database, settings: Settings) -> None:
    await _chat_with_history(db)
    dialogue = await chat_dialogue(db, settings, 8, "did Rex eat another shoe?", now=T0 + 30 * DAY)
    assert [t.text for t in dialogue.turns] == ["did Rex eat another shoe?"]
    assert [m.message_ids for m in dialogue.memory] == [(1, 2), (3, 4, 5)]  # last session's two exchanges merged


async def test_a_chat_in_mode_off_gets_no_memory(db: Database, settings: Settings) -> None:
    await _chat_with_history(db, mode="off")
    dialogue = await chat_dialogue(db, settings, 8, now=T0 + 8 * DAY)
    assert dialogue.turns and dialogue.memory == ()
