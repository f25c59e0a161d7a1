"""Preference pairs through storage: rebuilt from stored drafts and messages, counted, marked used by a run."""

from __future__ import annotations

import itertools

from storage import ChatRow, MessageRow, now
from storage import chats as chat_queries
from storage import messages as message_queries
from storage import preference as preference_queries
from storage import replies as reply_queries
from training.data.preference_pairs import load_preference_pairs, preference_pair_counts


async def seed(db) -> dict[str, int]:
    """A chat where the owner edited one draft, sent one unchanged, discarded one and answered
    themselves, and discarded one without answering (the last one in another, quiet chat)."""
    await chat_queries.upsert_chats(db, [ChatRow(1, "private", "Anna"), ChatRow(2, "private", "Bob")])
    t = now() - 3600
    await message_queries.insert_messages(db, [
        MessageRow(1, 1, 7, "Anna", False, t, "are we still on for tonight?"),
        MessageRow(1, 2, 7, "Anna", False, t + 600, "and who's driving?"),
        MessageRow(1, 3, None, None, True, t + 900, "я, заеду в 8)"),
        MessageRow(2, 1, 8, "Bob", False, t, "you there?"),
    ], "telegram")
    edited = await reply_queries.create_draft(db, 1, "Yes, certainly. See you at 8.", trigger_message_id=1)
    await reply_queries.close_draft(db, edited.id, "sent", sent_text="ага, в 8)")
    unchanged = await reply_queries.create_draft(db, 1, "Yes.", trigger_message_id=1)
    await reply_queries.close_draft(db, unchanged.id, "sent", sent_text="Yes.")
    replaced = await reply_queries.create_draft(db, 1, "I will drive, of course.", trigger_message_id=2)
    await reply_queries.close_draft(db, replaced.id, "discarded")
    ignored = await reply_queries.create_draft(db, 2, "Yes, I am here.", trigger_message_id=1)
    await reply_queries.close_draft(db, ignored.id, "discarded")
    # drafts are stamped with the wall clock; put them where they happened in the chat's timeline
    for draft_id, created in ((edited.id, t + 60), (unchanged.id, t + 70), (replaced.id, t + 660),
                              (ignored.id, t + 60)):
        await db.execute("UPDATE drafts SET created_at = ? WHERE id = ?", (created, draft_id))
    return {"edited": edited.id, "replaced": replaced.id}


async def test_pairs_are_rebuilt_from_stored_drafts_and_counted(db, settings) -> None:
    ids = await seed(db)
    pairs = await load_preference_pairs(db, settings)
    assert [(p.draft_id, p.kind, p.chosen) for p in pairs] == [
        (ids["edited"], "edited", "ага, в 8)"),
        (ids["replaced"], "own_reply", "я, заеду в 8)"),
    ]
    # the replaced draft answered both partner messages (its trigger is the second)
    assert pairs[1].dialogue.turns[-1].messages == ("are we still on for tonight?", "and who's driving?")
    assert pairs[0].dialogue.turns[-1].messages == ("are we still on for tonight?",)

    counts = await preference_pair_counts(db, settings)
    assert (counts.total, counts.unused, counts.edited, counts.own_reply) == (2, 2, 1, 1)

    assert await preference_queries.mark_pairs_used(db, [ids["edited"]], run_id=5) == 1
    assert await preference_queries.mark_pairs_used(db, [ids["edited"], ids["replaced"]], run_id=6) == 1
    assert await preference_queries.used_draft_ids(db) == {ids["edited"], ids["replaced"]}
    first_run = await db.scalar("SELECT run_id FROM preference_pair_uses WHERE draft_id = ?", (ids["edited"],))
    assert first_run == 5  # a later run keeps the first mark
    counts = await preference_pair_counts(db, settings)
    assert (counts.total, counts.unused) == (2, 0)


async def test_deleted_messages_and_unknown_chats_yield_no_pairs(db, settings) -> None:
    ids = await seed(db)
    await message_queries.mark_deleted(db, 1, [3])  # the owner's own answer was deleted
    await reply_queries.create_draft(db, 99, "Hello there.")  # a draft for a chat that is not stored
    pairs = await load_preference_pairs(db, settings)
    assert [p.draft_id for p in pairs] == [ids["edited"]]


async def test_day_fingerprints_move_with_what_pairs_are_built_from(db) -> None:
    day = 20_000  # a UTC day number
    at = day * preference_queries.DAY_SECONDS + 3600
    await chat_queries.upsert_chats(db, [ChatRow(1, "private", "Anna")])
    other_day = MessageRow(1, 1, 7, "Anna", False, at - preference_queries.DAY_SECONDS, "yesterday")
    await message_queries.insert_messages(db, [other_day], "telegram")

    async def fingerprint() -> tuple[int, ...] | None:
        return (await preference_queries.day_fingerprints(db, {1: None}))[1].get(day)

    seen = [await fingerprint()]
    row = MessageRow(1, 2, 7, "Anna", False, at, "hi")
    await message_queries.insert_messages(db, [row], "telegram")
    seen.append(await fingerprint())
    row.text, row.edited_at = "hi!", at + 5
    await message_queries.upsert_messages(db, [row])
    seen.append(await fingerprint())
    await message_queries.mark_deleted(db, 1, [2])
    seen.append(await fingerprint())
    await message_queries.upsert_messages(db, [row])  # stored again (deleted = 0)
    seen.append(await fingerprint())
    await message_queries.mark_authored(db, 1, [2], "bot")
    seen.append(await fingerprint())
    assert seen[0] is None and all(before != after for before, after in itertools.pairwise(seen))
    assert set((await preference_queries.day_fingerprints(db, {1: day}))[1]) == {day}  # from that day on


async def test_data_version_moves_on_writes_and_rollbacks(db) -> None:
    versions = [await db.data_version()]
    await chat_queries.upsert_chats(db, [ChatRow(1, "private", "Anna")])
    versions.append(await db.data_version())
    try:
        async with db.atomic():
            raise RuntimeError("nothing written, rolled back")
    except RuntimeError:
        pass
    versions.append(await db.data_version())
    assert len(set(versions)) == len(versions)
    assert await db.data_version() == versions[-1]  # reads leave it as it was
