"""The privacy rule as a property: over random chats (private and groups) sharing the same words,
memory for chat A recalls only A's own live messages from before the date asked, never another
chat's, whatever the query."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memory import recall
from model.dialogue import Turn
from settings import Settings
from storage import ChatRow, Database, MessageRow
from storage import chats as chat_queries
from storage import messages as message_queries

WORDS = ["max", "friday", "пятница", "собака", "berlin", "pizza", "olga", "кофе", "dog", "trip"]
CHAT_IDS = [5, 6, -42, -1001234567890, 777]
T0 = 1_700_000_000

messages = st.lists(
    st.tuples(st.integers(0, 60 * 24 * 30), st.booleans(), st.lists(st.sampled_from(WORDS), min_size=1, max_size=4),
              st.booleans()),
    max_size=25,
)
chats = st.dictionaries(st.sampled_from(CHAT_IDS), messages, min_size=2, max_size=len(CHAT_IDS))


@given(chats=chats, asked=st.lists(st.sampled_from(WORDS), min_size=1, max_size=5), data=st.data())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_memory_for_a_chat_holds_only_that_chats_earlier_live_messages(
    settings: Settings, chats: dict[int, list[tuple[int, bool, list[str], bool]]], asked: list[str],
    data: st.DataObject,
) -> None:
    chat_a = data.draw(st.sampled_from(sorted(chats)), label="chat A")
    before_date = T0 + 60 * data.draw(st.integers(0, 60 * 24 * 31), label="before minute")
    rows: list[MessageRow] = []
    for chat_id, lines in chats.items():
        for minute, outgoing, words, deleted in lines:
            # Message ids are unique across chats here, so an id alone tells whose message it is.
            rows.append(MessageRow(chat_id, len(rows) + 1, None if outgoing else 9, None if outgoing else "P",
                                   outgoing, T0 + 60 * minute, " ".join(words), deleted=deleted))
    tuned = settings.model_copy(update={"memory_max_recollections": 16, "memory_max_tokens": 8192})

    async def recalled() -> tuple:
        async with Database.open(":memory:") as db:
            for chat_id in chats:
                kind = "private" if chat_id > 0 else "supergroup"
                await chat_queries.upsert_chats(db, [ChatRow(chat_id, kind, "c")])
                await chat_queries.update_chat_settings(db, chat_id, reply_mode="auto")
            await message_queries.insert_messages(db, rows, "telegram")
            context = (Turn("partner", (" ".join(asked),), "P", before_date),)
            return await recall(db, tuned, chat_a, context, before_date)

    memory = asyncio.run(recalled())
    allowed = {r.message_id: r for r in rows if r.chat_id == chat_a and not r.deleted and r.date < before_date}
    for recollection in memory:
        assert set(recollection.message_ids) <= set(allowed), "memory crossed chats or used a message it may not"
        texts = {allowed[i].text for i in recollection.message_ids}
        assert {m for turn in recollection.turns for m in turn.messages} <= texts
    if any(set(asked) & set(r.text.split()) for r in allowed.values()):
        assert memory, "a query sharing a word with the chat's history recalls something"
