"""Service chats are removed by a migration; the bot's own turns are kept out of training."""

from __future__ import annotations

import sqlite3

from storage import Database, MessageRow, dataset_queries, messages
from storage.dataset_queries import without_bot_turns
from storage.migrations import MIGRATIONS
from storage.service_chats import is_service_chat


def test_service_chat_rule() -> None:
    assert is_service_chat(777000)
    assert is_service_chat(99, chat_type="bot") and is_service_chat(99, is_support=True)
    assert not is_service_chat(99, chat_type="private") and not is_service_chat(-42, chat_type="group")
    assert not is_service_chat(777000, allowed=[777000])


async def test_migration_forgets_already_stored_service_chats_and_bots(tmp_path) -> None:
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)  # an install from before the rule: only the first migration
    conn.executescript(MIGRATIONS[0][1])
    conn.execute("CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)")
    conn.execute("INSERT INTO migrations VALUES ('0001_initial', 0)")
    for chat_id, kind in ((777000, "private"), (7, "bot"), (5, "private")):
        conn.execute("INSERT INTO chats (id, type, title, created_at, updated_at) VALUES (?, ?, 't', 0, 0)",
                     (chat_id, kind))
        conn.execute("INSERT INTO messages (chat_id, message_id, outgoing, date, text, source) "
                     "VALUES (?, 1, 0, 0, 'Login code: 12345', 'telegram')", (chat_id,))
        conn.execute("INSERT INTO sync_state (chat_id, complete, updated_at) VALUES (?, 1, 0)", (chat_id,))
    conn.execute("INSERT INTO users (id, first_name, is_bot, updated_at) VALUES (777000, 'Telegram', 0, 0)")
    conn.commit()
    conn.close()
    async with Database.open(path) as db:
        assert [r["chat_id"] for r in await db.fetchall("SELECT chat_id FROM messages")] == [5]
        assert [r["id"] for r in await db.fetchall("SELECT id FROM chats")] == [5]
        assert [r["chat_id"] for r in await db.fetchall("SELECT chat_id FROM sync_state")] == [5]
        assert await db.scalar("SELECT COUNT(*) FROM users") == 0


def _row(i: int, outgoing: bool, authored_by: str = "human") -> MessageRow:
    return MessageRow(5, i, None, None, outgoing, i, f"m{i}", authored_by=authored_by)  # type: ignore[arg-type]


def test_bot_turn_is_dropped_with_the_partner_turn_it_answered() -> None:
    history = [_row(1, False), _row(2, True),                       # partner, owner
               _row(3, False), _row(4, False), _row(5, True, "bot"),  # partner ×2, bot
               _row(6, False), _row(7, True)]                        # partner, owner (real)
    result = without_bot_turns(history)
    assert [m.message_id for m in result.messages] == [1, 2, 6, 7]  # 6 is not glued onto 3-4
    assert (result.excluded_bot_messages, result.excluded_context_messages) == (1, 2)
    mixed = without_bot_turns([_row(1, False), _row(2, True, "draft_unchanged"), _row(3, True)])
    assert mixed.messages == () and mixed.excluded_bot_messages == 1
    assert without_bot_turns(history[:2]).messages == tuple(history[:2])


async def test_training_reads_exclude_bot_messages_and_count_them(db: Database) -> None:
    from storage import ChatRow, chats

    await chats.upsert_chats(db, [ChatRow(5, "private", "A")])
    await messages.upsert_messages(db, [_row(1, False), _row(2, True), _row(3, False), _row(4, True)])
    await messages.mark_authored(db, 5, [4], "bot")
    await messages.upsert_messages(db, [_row(4, True)])  # live sync rewriting it keeps the mark
    assert (await messages.get_message(db, 5, 4)).authored_by == "bot"
    history = await dataset_queries.training_history(db, 5)
    assert [m.message_id for m in history.messages] == [1, 2]
    assert [m.message_id for m in await dataset_queries.chat_history(db, 5)] == [1, 2]
    assert (history.excluded_bot_messages, history.excluded_context_messages) == (1, 1)  # 4, and 3 it answered
    assert await dataset_queries.owner_message_count(db) == 1
