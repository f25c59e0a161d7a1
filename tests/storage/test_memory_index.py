"""The memory index follows every write to `messages` (inserts, edits, deletes, re-deliveries), is
back-filled by its migration, matches inflected Russian and English words, and takes any text."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from storage import ChatRow, Database, MessageRow, memory_index
from storage import chats as chat_queries
from storage import messages as message_queries
from storage.migrations import MIGRATIONS

LATER = 10**10


def row(chat_id: int, message_id: int, text: str, date: int = 1000) -> MessageRow:
    return MessageRow(chat_id, message_id, chat_id, "Anna", False, date, text)


async def found(db: Database, chat_id: int, text: str, before_date: int = LATER) -> list[int]:
    return [hit.message.message_id for hit in await memory_index.search(db, chat_id, text, before_date, 50)]


async def assert_index_agrees(db: Database) -> None:
    """FTS5's own check that the index holds exactly what its content (the live messages) says."""
    await db.execute("INSERT INTO memory_fts (memory_fts, rank) VALUES ('integrity-check', 1)")


async def test_inserts_are_found_and_edits_replace_the_old_words(db: Database) -> None:
    await message_queries.insert_messages(db, [row(1, 1, "my dog Max is sick"), row(1, 2, "see you friday")], "export")
    assert await found(db, 1, "how is max?") == [1]
    await message_queries.upsert_messages(db, [MessageRow(1, 1, 1, "Anna", False, 1000, "my cat Tom", edited_at=1100)])
    assert await found(db, 1, "max") == []
    assert await found(db, 1, "and Tom?") == [1]
    await assert_index_agrees(db)


async def test_an_unchanged_import_of_an_edited_message_keeps_the_edit_indexed(db: Database) -> None:
    await message_queries.upsert_messages(db, [row(1, 1, "the new words")])
    assert await message_queries.insert_messages(db, [row(1, 1, "the old words")], "export") == 0
    assert await found(db, 1, "new") == [1] and await found(db, 1, "old") == []


async def test_deleted_messages_are_never_found_until_telegram_delivers_them_again(db: Database) -> None:
    await message_queries.insert_messages(db, [row(1, 1, "secret plans"), row(1, 2, "other plans")], "export")
    assert await message_queries.mark_deleted(db, 1, [1]) == 1
    assert await found(db, 1, "plans") == [2]
    await message_queries.mark_deleted(db, None, [2])  # a private-chat deletion without its chat
    assert await found(db, 1, "plans") == []
    await message_queries.upsert_messages(db, [row(1, 2, "other plans")])
    assert await found(db, 1, "plans") == [2]
    await assert_index_agrees(db)


async def test_removed_rows_leave_the_index(db: Database) -> None:
    """Rows a migration deletes (like 0002's service chats) go through the same triggers."""
    await message_queries.insert_messages(db, [row(777, 1, "login code"), row(1, 2, "a code")], "export")
    await db.execute("DELETE FROM messages WHERE chat_id = 777")
    assert await found(db, 777, "code") == [] and await found(db, 1, "code") == [2]
    assert await db.scalar("SELECT COUNT(*) FROM memory_rowids") == 1
    await assert_index_agrees(db)


async def test_search_stays_in_its_chat_and_before_the_date(db: Database) -> None:
    await message_queries.insert_messages(db, [
        row(5, 1, "the red bicycle", date=100), row(-5, 2, "the red bicycle", date=100),
        row(-1005, 3, "the red bicycle", date=100), row(5, 4, "bicycle again", date=300),
    ], "export")
    assert await found(db, 5, "bicycle") == [4, 1]
    assert await found(db, -5, "bicycle") == [2] and await found(db, -1005, "bicycle") == [3]
    assert await found(db, 5, "bicycle", before_date=300) == [1]
    assert await found(db, 6, "bicycle") == []


async def test_equal_scores_put_the_most_recent_first(db: Database) -> None:
    await message_queries.insert_messages(
        db, [row(1, i, "pizza tonight", date=1000 + 10 * (i % 3)) for i in range(1, 4)], "export")
    assert await found(db, 1, "pizza") == [2, 1, 3]


async def test_inflected_russian_and_english_words_match(db: Database) -> None:
    await message_queries.insert_messages(db, [
        row(1, 1, "Собака опять съела тапок"), row(1, 2, "в пятницу едем к Максу"),
        row(1, 3, "Ёжик в тумане"), row(1, 4, "the meeting is at the CAFÉ"), row(1, 5, "two dogs"),
    ], "export")
    assert await found(db, 1, "как твоя собакой?") == [1]
    assert await found(db, 1, "ну что, в пятницу?") == [2]
    assert await found(db, 1, "как там Максом") == [2]
    assert await found(db, 1, "ежик") == [3]
    assert await found(db, 1, "meet at the cafe") == [4]
    assert await found(db, 1, "how's the dog") == [5]


async def test_function_words_alone_search_nothing(db: Database) -> None:
    await message_queries.insert_messages(db, [row(1, 1, "and so it is")], "export")
    assert memory_index.query_stems("and so, it is? ну да") == []
    assert await found(db, 1, "and so it is") == []


FTS_SYNTAX = ['"', '""', "'", "*", "a*", "NEAR(a b", "a AND", "OR", "NOT x", "-x", "^x", "chat:p1", "{text}:",
              "(", ")", ":", "+", "a:b", "col : x", "\x00", "🙂🙂"]


async def test_fts_syntax_in_text_is_text(db: Database) -> None:
    await message_queries.insert_messages(db, [row(1, i, text) for i, text in enumerate(FTS_SYNTAX, 1)], "export")
    for text in FTS_SYNTAX:
        await memory_index.search(db, 1, text, LATER, 5)
    assert await found(db, 1, 'NEAR("near" OR x)') == [6]
    await assert_index_agrees(db)


@given(st.text(max_size=60))
@settings(max_examples=150, deadline=None)
def test_no_text_makes_a_search_raise(text: str) -> None:
    async def search() -> None:
        async with Database.open(":memory:") as db:
            await message_queries.insert_messages(db, [row(1, 1, text)], "export")
            await memory_index.search(db, 1, text, LATER, 5)

    asyncio.run(search())


async def test_the_migration_indexes_the_history_already_stored(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)  # an install from before memory: migrations up to 0006
    conn.execute("CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)")
    before_memory = [(name, sql) for name, sql in MIGRATIONS if name < "0007"]
    for name, sql in before_memory:
        conn.executescript(sql)
        conn.execute("INSERT INTO migrations VALUES (?, 0)", (name,))
    for message_id, text, deleted in ((1, "the old flat on Baker street", 0), (2, "the deleted flat", 1)):
        conn.execute("INSERT INTO messages (chat_id, message_id, outgoing, date, text, deleted, source) "
                     "VALUES (3, ?, 0, 100, ?, ?, 'export')", (message_id, text, deleted))
    conn.commit()
    conn.close()
    async with Database.open(path) as db:
        await chat_queries.upsert_chats(db, [ChatRow(3, "private", "Bob")])
        assert await found(db, 3, "flat") == [1]
        await assert_index_agrees(db)


async def test_words_too_common_in_the_history_are_not_searched_for(db: Database) -> None:
    """The relevance floor: a word held by more than `COMMON_SHARE` of the stored messages (and more than
    `COMMON_FLOOR`) finds nothing by itself; a rarer word of the same message still finds its match."""
    count = memory_index.COMMON_FLOOR + 10
    everyday = [row(1, i, f"plans for the weekend {i}") for i in range(1, count + 1)]
    await message_queries.insert_messages(db, [*everyday, row(1, 100, "meet Rex, our new dog")], "export")
    assert await found(db, 1, "plans?") == []
    assert await found(db, 1, "how is the dog? any plans?") == [100]
    assert await memory_index.distinctive(db, memory_index.query_stems("weekend dog")) == ["dog"]
