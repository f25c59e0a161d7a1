"""The running app's preference pair count (`GET /api/status`, issue 18 item 13): rebuilt only for
drafts whose inputs changed, once for all concurrent callers, and always equal to a full recount."""

from __future__ import annotations

import asyncio

import pytest

from application import overview
from settings import Settings
from storage import Database, MessageRow
from storage import chats as chat_queries
from storage import messages as message_queries
from storage import preference as preference_queries
from storage import replies as reply_queries
from storage import training as training_queries
from tests.admin_ui.conftest import ALICE, PanelEnv
from tests.storage.test_preference import seed
from training.data import pair_counts
from training.data.pair_counts import PairCounter
from training.data.preference_pairs import preference_pair_counts


@pytest.fixture
def rebuilds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The draft ids whose pair the counter rebuilt, in order."""
    seen: list[int] = []
    real = pair_counts.pair_from_draft

    def watched(item, options):  # type: ignore[no-untyped-def]
        seen.append(item.draft.id)
        return real(item, options)

    monkeypatch.setattr(pair_counts, "pair_from_draft", watched)
    return seen


def test_only_drafts_whose_inputs_changed_are_rebuilt(env: PanelEnv, rebuilds: list[int]) -> None:
    db = env.services.db
    ids = env.call(seed, db)

    def counts() -> dict[str, int]:
        return env.client.get("/api/status").json()["preference_pairs"]

    first = counts()
    assert first == {"total": 2, "unused": 2, "edited": 1, "own_reply": 1}
    assert len(rebuilds) == 4  # every draft of the seed, once
    rebuilds.clear()

    assert counts() == first and rebuilds == []  # nothing written
    env.call(reply_queries.log_decision, db, 1, 3, "skipped", "chat not whitelisted")
    assert counts() == first and rebuilds == []  # written, but nothing pairs are built from

    run = env.call(training_queries.create_run, db, "cli", "tiny")
    env.call(preference_queries.mark_pairs_used, db, [ids["edited"]], run.id)
    assert counts()["unused"] == 1 and rebuilds == []

    bobs_drafts = [d.id for d in env.call(reply_queries.list_drafts, db) if d.chat_id == 2]
    bob_spoke_at = env.call(message_queries.recent_messages, db, 2, 1)[-1].date
    env.call(message_queries.insert_messages, db, [MessageRow(2, 2, 8, "Bob", False, bob_spoke_at + 30, "hello?")],
             "telegram")
    assert counts() == env.call(preference_pair_counts, db, env.services.settings).as_dict()
    assert len(bobs_drafts) == 1 and rebuilds == bobs_drafts  # only the draft whose window holds the message

    rebuilds.clear()
    draft = env.call(reply_queries.create_draft, db, ALICE, "Sure, dinner at eight works for me.", 3)
    env.call(reply_queries.close_draft, db, draft.id, "sent", "ага, в 8)")
    assert counts()["total"] == 3 and rebuilds == [draft.id]


def test_concurrent_callers_share_one_recount(env: PanelEnv, rebuilds: list[int]) -> None:
    env.call(seed, env.services.db)

    async def many() -> list:
        return list(await asyncio.gather(*(overview.snapshot(env.services) for _ in range(20))))

    snapshots = env.call(many)
    assert len(rebuilds) == 4  # one recount for all twenty
    assert len({(s.preference_pairs.total, s.preference_pairs.unused) for s in snapshots}) == 1


async def test_the_incremental_count_equals_a_full_recount(db: Database, settings: Settings) -> None:
    counter = PairCounter(settings)

    async def agree() -> int:
        incremental, full = await counter.counts(db), await preference_pair_counts(db, settings)
        assert incremental == full
        return full.total

    ids = await seed(db)
    assert await agree() == 2
    replaced = await reply_queries.get_draft(db, ids["replaced"])
    # The partner speaks between the discarded draft and the owner's own answer: no longer a pair.
    partner = MessageRow(1, 4, 7, "Anna", False, replaced.created_at + 60, "hello??")
    await message_queries.insert_messages(db, [partner], "telegram")
    assert await agree() == 1
    await message_queries.mark_deleted(db, 1, [4])
    assert await agree() == 2
    answer = await message_queries.get_message(db, 1, 3)
    assert answer is not None
    answer.text, answer.edited_at = "I will drive, of course!", answer.date + 5  # now one character from the draft
    await message_queries.upsert_messages(db, [answer])
    assert await agree() == 1
    answer.text, answer.edited_at = "я, заеду в 8)", answer.date + 10
    await message_queries.upsert_messages(db, [answer])
    assert await agree() == 2
    with pytest.raises(RuntimeError):
        async with db.atomic():
            await message_queries.insert_messages(
                db, [MessageRow(1, 5, 7, "Anna", False, replaced.created_at + 61, "hello?!")], "telegram")
            assert (await counter.counts(db)).total == 1  # counted while the transaction is open
            raise RuntimeError("rolled back")
    assert await agree() == 2  # and not kept after its rollback
    await message_queries.mark_authored(db, 1, [3], "bot")  # the "answer" was the bot's
    assert await agree() == 1
    await chat_queries.update_chat_settings(db, 1, train=False)
    assert await agree() == 0
    await chat_queries.update_chat_settings(db, 1, train=True)
    assert await agree() == 1
