"""`memory.recall`: what it recalls for a turn (the exchange around a hit, from before the window),
and what it never does (other chats, deleted messages, chats in mode off, memory off, PII)."""

from __future__ import annotations

import pytest

from memory import recall, recalled_message_ids
from model.dialogue import Turn
from settings import Settings
from storage import ChatRow, Database, MessageRow
from storage import chats as chat_queries
from storage import messages as message_queries
from storage.rows import ChatType, ReplyMode

DAY = 86_400
T0 = 1_700_000_000


async def store(db: Database, chat_id: int, lines: list[tuple[int, bool, str]], *, first_id: int = 1,
                chat_type: ChatType = "private", mode: ReplyMode = "draft") -> None:
    """A chat with messages (seconds after T0, written by the owner, text); ids from `first_id`."""
    await chat_queries.upsert_chats(db, [ChatRow(chat_id, chat_type, f"chat {chat_id}")])
    await chat_queries.update_chat_settings(db, chat_id, reply_mode=mode)
    rows = [MessageRow(chat_id, first_id + i, None if out else 77, None if out else "Anna", out, T0 + at, text)
            for i, (at, out, text) in enumerate(lines)]
    await message_queries.insert_messages(db, rows, "export")


def asked(text: str) -> tuple[Turn, ...]:
    return (Turn("partner", (text,), "Anna", T0 + 30 * DAY),)


def texts(memory: tuple) -> list[list[str]]:
    return [[t.text for t in r.turns] for r in memory]


HISTORY = [
    (0, False, "we got a puppy!"), (60, True, "no way"), (61, True, "name?"), (120, False, "his name is Max"),
    (180, True, "cute"),
    (3 * DAY, False, "lunch on friday?"), (3 * DAY + 60, True, "yes, at the pier"),
]


async def test_a_hit_brings_its_exchange_with_every_message_id(db: Database, settings: Settings) -> None:
    await store(db, 5, HISTORY)
    memory = await recall(db, settings, 5, asked("how's Max doing?"), T0 + 30 * DAY)
    assert texts(memory) == [["his name is Max", "cute"]]
    assert memory[0].message_ids == (4, 5) and memory[0].date == T0 + 120
    assert [t.role for t in memory[0].turns] == ["partner", "owner"]


async def test_an_owner_hit_brings_the_turn_it_answered(db: Database, settings: Settings) -> None:
    await store(db, 5, HISTORY)
    memory = await recall(db, settings, 5, asked("which pier was it"), T0 + 30 * DAY)
    assert texts(memory) == [["lunch on friday?", "yes, at the pier"]]


async def test_overlapping_exchanges_merge_into_one(db: Database, settings: Settings) -> None:
    await store(db, 5, [(0, False, "we got a puppy!"), (60, True, "name?"), (120, False, "his name is Max")])
    memory = await recall(db, settings, 5, asked("the puppy, Max"), T0 + 30 * DAY)
    # "puppy" brings the owner's answer, "Max" (no answer after it) the owner's question before it
    assert texts(memory) == [["we got a puppy!", "name?", "his name is Max"]]
    assert memory[0].message_ids == (1, 2, 3)


async def test_recollections_come_oldest_first(db: Database, settings: Settings) -> None:
    await store(db, 5, HISTORY)
    memory = await recall(db, settings, 5, asked("the pier, and the puppy"), T0 + 30 * DAY)
    assert recalled_message_ids(memory) == [1, 2, 3, 6, 7]


async def test_nothing_from_the_window_or_after_it(db: Database, settings: Settings) -> None:
    await store(db, 5, HISTORY)
    assert await recall(db, settings, 5, asked("max"), T0 + 120) == ()
    memory = await recall(db, settings, 5, asked("puppy"), T0 + 61)
    assert recalled_message_ids(memory) == [1, 2]  # the owner's turn is cut where the window starts


async def test_deleted_messages_are_never_recalled(db: Database, settings: Settings) -> None:
    await store(db, 5, HISTORY)
    await message_queries.mark_deleted(db, 5, [4])
    assert await recall(db, settings, 5, asked("Max"), T0 + 30 * DAY) == ()
    await message_queries.mark_deleted(db, 5, [2])
    memory = await recall(db, settings, 5, asked("puppy"), T0 + 30 * DAY)
    assert texts(memory) == [["we got a puppy!", "name?\ncute"]]  # one owner turn once "his name is Max" is gone


async def test_another_chat_is_never_recalled_groups_included(db: Database, settings: Settings) -> None:
    await store(db, 5, [(0, False, "my sister Olga moved to Berlin"), (60, True, "wow")])
    await store(db, -77, [(0, False, "Olga is in Berlin now"), (60, True, "nice")], first_id=10, chat_type="group")
    await store(db, 6, [(0, False, "hello")], first_id=20)
    assert await recall(db, settings, 6, asked("how's Olga in Berlin?"), T0 + DAY) == ()
    group = await recall(db, settings, -77, asked("Olga Berlin"), T0 + DAY)
    assert recalled_message_ids(group) == [10, 11]


@pytest.mark.parametrize("switch", ["memory off", "chat off"])
async def test_memory_off_or_the_chat_off_recalls_nothing(db: Database, settings: Settings, switch: str) -> None:
    await store(db, 5, HISTORY, mode="off" if switch == "chat off" else "auto")
    if switch == "memory off":
        settings = settings.model_copy(update={"memory_enabled": False})
    assert await recall(db, settings, 5, asked("Max"), T0 + 30 * DAY) == ()
    training = await recall(db, settings, 5, asked("Max"), T0 + 30 * DAY, live=False)
    assert (training == ()) == (switch == "memory off")  # training rows ignore the reply mode only


async def test_an_unknown_chat_recalls_nothing(db: Database, settings: Settings) -> None:
    assert await recall(db, settings, 404, asked("Max"), T0) == ()


async def test_pii_is_redacted_and_blocked_words_drop_the_exchange(db: Database, settings: Settings) -> None:
    await store(db, 5, [(0, False, "the plumber's number is +7 916 123-45-67"), (60, True, "thanks"),
                        (DAY, False, "the plumber's secret project"), (DAY + 60, True, "ok")])
    tuned = settings.model_copy(update={"blocked_words": ["secret"]})
    memory = await recall(db, tuned, 5, asked("call the plumber"), T0 + 30 * DAY)
    assert texts(memory) == [["the plumber's number is [phone]", "thanks"]]
    raw = await recall(db, tuned.model_copy(update={"redact_pii": False}), 5, asked("plumber"), T0 + 30 * DAY)
    assert "+7 916 123-45-67" in texts(raw)[0][0]


async def test_at_most_the_set_number_of_recollections_the_best_first(db: Database, settings: Settings) -> None:
    lines = [(i * DAY, False, f"bought {'apples ' * (i + 1)}today") for i in range(5)]
    await store(db, 5, lines)
    one = settings.model_copy(update={"memory_max_recollections": 1})
    memory = await recall(db, one, 5, asked("apples"), T0 + 30 * DAY)
    assert recalled_message_ids(memory) == [5]  # BM25: the most "apples" ranks first
    three = await recall(db, settings.model_copy(update={"memory_max_recollections": 3}), 5, asked("apples"),
                         T0 + 30 * DAY)
    assert recalled_message_ids(three) == [3, 4, 5]


async def test_equal_scores_recall_the_most_recent(db: Database, settings: Settings) -> None:
    await store(db, 5, [(i * DAY, False, "pizza night") for i in range(4)])
    one = settings.model_copy(update={"memory_max_recollections": 1})
    assert recalled_message_ids(await recall(db, one, 5, asked("pizza"), T0 + 30 * DAY)) == [4]


async def test_the_token_budget_holds_with_the_given_counter(db: Database, settings: Settings) -> None:
    await store(db, 5, [(0, False, "a long story about the garden " * 8), (DAY, False, "the garden is green")])

    def words(text: str) -> int:
        return len(text.split())

    tight = settings.model_copy(update={"memory_max_tokens": 16})
    memory = await recall(db, tight, 5, asked("garden"), T0 + 30 * DAY, count_tokens=words)
    assert recalled_message_ids(memory) == [2]  # the best hit does not fit, the next does
    roomy = settings.model_copy(update={"memory_max_tokens": 100})
    both = await recall(db, roomy, 5, asked("garden"), T0 + 30 * DAY, count_tokens=words)
    assert recalled_message_ids(both) == [1, 2]


async def test_excluded_messages_are_neither_hits_nor_part_of_an_exchange(db: Database, settings: Settings) -> None:
    await store(db, 5, HISTORY)
    memory = await recall(db, settings, 5, asked("Max"), T0 + 30 * DAY, exclude_message_ids={5}, live=False)
    assert recalled_message_ids(memory) == [2, 3, 4]  # the owner turn before stands in for the answer
    assert await recall(db, settings, 5, asked("Max"), T0 + 30 * DAY, exclude_message_ids={4}) == ()


async def test_a_context_without_the_partner_searches_nothing(db: Database, settings: Settings) -> None:
    await store(db, 5, HISTORY)
    owner_only = (Turn("owner", ("Max?",), None, T0 + 30 * DAY),)
    assert await recall(db, settings, 5, owner_only, T0 + 30 * DAY) == ()
    assert await recall(db, settings, 5, (), T0 + 30 * DAY) == ()
