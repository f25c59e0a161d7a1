import pytest

from storage import ChatRow, Database, InvalidValue, MessageRow, NotFound, chats, messages, replies, training


async def test_migrations_from_empty_are_recorded_once(tmp_path):
    path = tmp_path / "a.sqlite3"
    async with Database.open(path) as db:
        names = [r["name"] for r in await db.fetchall("SELECT name FROM migrations")]
        from storage.migrations import MIGRATIONS
        assert names == [name for name, _ in MIGRATIONS]
        assert await db.scalar("PRAGMA journal_mode") == "wal"
    async with Database.open(path) as db:
        assert await db.migrate() == []


async def test_atomic_rolls_back_nested_savepoint_only(db):
    async with db.atomic():
        await chats.upsert_chats(db, [ChatRow(1, "private", "A")])
        with pytest.raises(RuntimeError):
            async with db.atomic():
                await chats.upsert_chats(db, [ChatRow(2, "private", "B")])
                raise RuntimeError("boom")
    assert [c.id for c in await chats.list_chats(db)] == [1]


async def test_insert_is_idempotent_and_upsert_applies_edits(db):
    await chats.upsert_chats(db, [ChatRow(1, "private", "A")])
    row = MessageRow(1, 10, 1, "A", False, 100, "hello")
    assert await messages.insert_messages(db, [row], "export") == 1
    assert await messages.insert_messages(db, [row], "export") == 0
    row.text, row.edited_at = "hello!", 150
    await messages.upsert_messages(db, [row])
    stored = await messages.get_message(db, 1, 10)
    assert stored is not None and stored.text == "hello!" and stored.edited_at == 150
    assert await messages.mark_deleted(db, 1, [10]) == 1
    assert (await messages.counts(db)).messages == 0


async def test_chat_settings_validate(db):
    await chats.upsert_chats(db, [ChatRow(7, "private", "Z")])
    updated = await chats.update_chat_settings(db, 7, reply_mode="auto", relationship="friend")
    assert (updated.reply_mode, updated.relationship) == ("auto", "friend")
    assert await chats.list_reply_chats(db) == {7: "auto"}
    with pytest.raises(InvalidValue):
        await chats.update_chat_settings(db, 7, reply_mode="loud")  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        await chats.update_chat_settings(db, 8, reply_mode="off")
    # upserting the chat again (harvest) never resets the owner's settings
    await chats.upsert_chats(db, [ChatRow(7, "private", "Z2")])
    assert (await chats.get_chat(db, 7)).reply_mode == "auto"


async def test_drafts_close_once(db):
    draft = await replies.create_draft(db, 5, "suggested")
    closed = await replies.close_draft(db, draft.id, "sent", sent_text="edited")
    assert (closed.status, closed.text, closed.sent_text) == ("sent", "suggested", "edited")
    with pytest.raises(InvalidValue):
        await replies.close_draft(db, draft.id, "discarded")


async def test_promotion_and_rollback(db):
    await training.add_adapter(db, "v1", "/a/v1", "tiny", None)
    await training.add_adapter(db, "v2", "/a/v2", "tiny", None)
    assert await training.promoted_adapter(db) is None
    await training.promote(db, "v1", "gate")
    await training.promote(db, "v2", "gate")
    assert (await training.promoted_adapter(db)).id == "v2"
    target = await training.rollback_target(db)
    assert (target.current, target.previous.id) == ("v2", "v1")
    assert (await training.promoted_adapter(db)).id == "v2"  # looking changes nothing
    with pytest.raises(NotFound):
        await training.promote(db, "nope", "x")
