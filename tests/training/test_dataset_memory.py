"""Memory in the dataset (`load_dataset`, `training.data.dataset_memory`): examples get what serving
recalls for them; training conversations only what came before their session and never a held-out
session; the rows keep the prefix property; with memory off nothing changes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.context import chat_dialogue
from model.dialogue import Dialogue, Recollection, Turn
from model.memory_block import MEMORY_HEADER
from model.prompt import PromptFormat
from settings import Settings
from storage import ChatRow, Database, MessageRow
from tests.training.histories import DAY, FACT_SESSIONS, START, fact_history, store_chat
from training.data.dataset import DialogueExample, build_dataset, load_dataset
from training.data.dataset_memory import opening_context
from training.data.sequences import Conversation, encode_conversations, encode_sequences

ANNA, BORIS = 1, 2


@pytest.fixture(scope="module")
def tiny_tokenizer(tiny_model_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_model_dir))


def ids(memory: tuple[Recollection, ...]) -> set[int]:
    return {i for r in memory for i in r.message_ids}


def session_ids(rows: list[MessageRow], day: int) -> set[int]:
    return {r.message_id for r in rows if START + day * DAY <= r.date < START + (day + 1) * DAY}


def by_day(built: Any, day: int) -> Conversation:
    return next(c for c in built.conversations if c.session_start == START + day * DAY)


async def test_training_memory_comes_only_from_earlier_training_sessions(db: Database, settings: Settings) -> None:
    rows = fact_history()
    await store_chat(db, rows)
    built = await load_dataset(db, settings)
    assert {c.session_start for c in built.conversations} == {START, START + 4 * DAY, START + 6 * DAY}  # 2, 8 held out
    asked = by_day(built, 4)  # asks about Rex (day 0), Lisbon (held-out day 2); Rex sits on day 6, after it
    assert ids(asked.dialogue.memory) == {rows[0].message_id, rows[1].message_id}  # Rex named, and the answer
    assert not ids(asked.dialogue.memory) & (session_ids(rows, 2) | session_ids(rows, 6))
    heldout = set().union(*(session_ids(rows, day) for day in (2, 8)))
    for conversation in built.conversations:
        recalled = ids(conversation.dialogue.memory)
        assert not recalled & heldout
        assert all(r.date < conversation.session_start for r in conversation.dialogue.memory)
        assert recalled <= {r.message_id for r in rows if r.date < conversation.session_start}
    assert built.stats.memory_conversations == 2  # day 0 has nothing before it


async def test_examples_get_what_serving_recalls_for_them(db: Database, settings: Settings) -> None:
    """Replaying the history message by message: just before each owner reply, what the live path
    (`bot.context.chat_dialogue`) recalls is the memory of that reply's example, held-out sessions
    included (evaluation scores what users get)."""
    rows = fact_history()
    served: dict[int, tuple[Recollection, ...]] = {}
    previous: MessageRow | None = None
    for row in rows:
        if row.outgoing and previous is not None and not previous.outgoing and row.date - previous.date < DAY:
            served[row.message_id] = (await chat_dialogue(db, settings, ANNA)).memory
        await store_chat(db, [row])
        previous = row
    built = await load_dataset(db, settings)
    answered = [e for e in built.examples if not e.owner_initiated]
    assert {e.reply.message_id for e in answered} == set(served)
    for example in answered:
        assert example.dialogue.memory == served[example.reply.message_id]
    lisbon_asked = next(e for e in answered if e.window_start == START + 4 * DAY)
    assert ids(lisbon_asked.dialogue.memory) & session_ids(rows, 2)  # the held-out session, as serving has it
    heldout = [e for e in answered if e.split == "heldout" and e.dialogue.memory]
    assert heldout and built.stats.memory_examples == sum(bool(e.dialogue.memory) for e in built.examples)
    assert DialogueExample.from_json(heldout[0].to_json()) == heldout[0]  # `dataset --out` keeps the memory


async def test_memory_never_comes_from_another_chat(db: Database, settings: Settings) -> None:
    anna = fact_history()
    boris = fact_history(BORIS, [(day - 1, False, lines) for day, _, lines in FACT_SESSIONS if day], first=5000)
    await store_chat(db, anna)
    await store_chat(db, boris, BORIS, "Boris")
    built = await load_dataset(db, settings)
    own = {ANNA: {r.message_id for r in anna}, BORIS: {r.message_id for r in boris}}
    assert any(c.dialogue.memory for c in built.conversations if c.chat_id == BORIS)
    for chat_id, memory in [*((c.chat_id, c.dialogue.memory) for c in built.conversations),
                            *((e.chat_id, e.dialogue.memory) for e in built.examples)]:
        assert ids(memory) <= own[chat_id]


async def test_memory_off_leaves_the_dataset_and_its_rows_as_without_memory(
    db: Database, settings: Settings, tiny_tokenizer: Any
) -> None:
    rows = fact_history()
    await store_chat(db, rows)
    off = settings.model_copy(update={"memory_enabled": False})
    with_memory, without = await load_dataset(db, settings), await load_dataset(db, off)
    plain = await load_dataset(db, settings, with_memory=False)  # the dataset as built before memory existed
    assert without == plain
    assert not any(e.dialogue.memory for e in without.examples) and not without.stats.memory_examples
    fmt = PromptFormat.for_training(tiny_tokenizer, memory=off.memory_enabled)
    assert not fmt.memory
    old_rows, _ = encode_conversations(tiny_tokenizer, fmt, plain.conversations, 256, off.context_turns)
    new_rows, _ = encode_conversations(tiny_tokenizer, fmt, without.conversations, 256, off.context_turns)
    assert new_rows == old_rows
    memory_fmt = PromptFormat.for_training(tiny_tokenizer, memory=True)
    remembered, _ = encode_conversations(tiny_tokenizer, memory_fmt, with_memory.conversations, 256, 10)
    assert remembered != old_rows  # the same history with memory on does change the rows


async def test_rows_with_memory_keep_every_serve_time_prompt_as_a_prefix(
    db: Database, settings: Settings, tiny_tokenizer: Any
) -> None:
    await store_chat(db, fact_history())
    built = await load_dataset(db, settings)
    fmt = PromptFormat.for_training(tiny_tokenizer, memory=True)
    sequences, _ = encode_sequences(tiny_tokenizer, fmt, built.conversations, 512, settings.context_turns)
    with_memory = 0
    for sequence in sequences:
        dialogue = built.conversations[sequence.conversation].dialogue
        row = sequence.row["input_ids"]
        with_memory += bool(dialogue.memory) and MEMORY_HEADER in tiny_tokenizer.decode(row)
        for turn in sequence.labelled:
            prompt = fmt.encode_prompt(tiny_tokenizer, replace(dialogue, turns=dialogue.turns[:turn]))
            assert row[:len(prompt)] == prompt
    assert with_memory == built.stats.memory_conversations > 0


def test_a_full_window_drops_memory_before_context(tiny_tokenizer: Any) -> None:
    """Memory goes before any turn (`model.context_window`'s rule), the oldest recollection first."""
    def said(text: str, day: int) -> Recollection:
        return Recollection((Turn("partner", (text,)), Turn("owner", ("ok",))), (day,), START + day * DAY)

    turns = (Turn("partner", ("what did you do today",)), Turn("owner", ("went to the park",)))
    memory = (said("the old story " * 12, 1), said("the new story", 2))
    dialogue = Dialogue(turns, "Anna", memory=memory)
    fmt = PromptFormat.for_training(tiny_tokenizer, memory=True)

    def row_length(shown: Dialogue) -> int:
        return len(fmt.encode_conversation(tiny_tokenizer, shown, [1])[0]["input_ids"])

    room = row_length(replace(dialogue, memory=memory[1:])) + 24  # room for the planning estimate's margin
    assert row_length(dialogue) > room  # both recollections and the context would not fit
    rows, _ = encode_conversations(tiny_tokenizer, fmt, [Conversation(ANNA, dialogue)], room, 10)
    (text,) = [tiny_tokenizer.decode(row["input_ids"]) for row in rows]
    assert "the new story" in text and "the old story" not in text and "what did you do today" in text
    (roomy,), _ = encode_conversations(tiny_tokenizer, fmt, [Conversation(ANNA, dialogue)], 1024, 10)
    assert "the old story" in tiny_tokenizer.decode(roomy["input_ids"])

    # What memory adds to each row (paid from the run's extra time): the block it shows.
    def block(shown: Dialogue, max_length: int) -> int:
        (sequence,), _ = encode_sequences(tiny_tokenizer, fmt, [Conversation(ANNA, shown)], max_length, 10)
        return sequence.memory_tokens

    bare = row_length(replace(dialogue, memory=()))
    assert block(dialogue, 1024) == row_length(dialogue) - bare
    assert block(dialogue, room) == row_length(replace(dialogue, memory=memory[1:])) - bare
    assert block(replace(dialogue, memory=()), 1024) == 0


def test_a_conversation_is_queried_by_its_first_answered_partner_turn() -> None:
    p, o = Turn("partner", ("how is Rex?",)), Turn("owner", ("fine",))
    assert opening_context((p, o, p, o)) == (p,)
    assert opening_context((o, p, o)) == (o, p)  # the owner opened: the first reply to the partner
    assert opening_context((o,)) == ()


def test_the_pure_build_records_what_memory_needs() -> None:
    """`build_dataset` (no database) knows each conversation's session start, each example's window
    start and the held-out sessions' messages, and recalls nothing itself."""
    rows = fact_history()
    built = build_dataset([_history(rows)], _options())
    assert not any(c.dialogue.memory for c in built.conversations)
    assert not any(e.dialogue.memory for e in built.examples)
    assert built.heldout_message_ids[ANNA] == session_ids(rows, 2) | session_ids(rows, 8)
    late = max(built.examples, key=lambda e: e.date)
    assert late.window_start == START + 8 * DAY


def _history(rows: list[MessageRow]) -> Any:
    from training.data.dataset import ChatHistory

    return ChatHistory(ChatRow(ANNA, "private", "Anna"), rows)


def _options() -> Any:
    from training.data.dataset import DatasetOptions

    return DatasetOptions(context_turns=10, gap_seconds=3 * 3600, redact_pii=False)


def test_a_reply_uses_memory_when_only_the_memory_holds_its_rare_word() -> None:
    from training.data.dataset_memory import uses_memory
    from training.evaluation.memory_recall import index_history

    def turn(role: str, text: str) -> Turn:
        return Turn(role, (text,), None, START)  # type: ignore[arg-type]

    words = index_history({1: fact_history()[:2]})  # "rex" is rare there: one message holds it
    memory = (Recollection((turn("partner", "we adopted a puppy, his name is Rex"), turn("owner", "aww, love that")),
                           (1, 2), START),)
    asked = (turn("partner", "how is the puppy?"), turn("owner", "rex is great"), turn("partner", "and Rex eats?"),
             turn("owner", "rex eats all day"))
    assert uses_memory(asked, memory, words) == (1,)  # the second "rex" was said in the session already
    named = (turn("partner", "how is Rex?"), turn("owner", "rex is great"))
    assert uses_memory(named, memory, words) == ()  # the partner named him: the context holds the word
    assert uses_memory(asked, (), words) == ()


def test_memory_drills_are_the_serve_time_prompt_and_the_reply_that_uses_it(tiny_tokenizer: Any) -> None:
    from model.prompt import IGNORE_INDEX
    from training.data.sequences import memory_drills

    memory = (Recollection((Turn("partner", ("we adopted a puppy, his name is Rex",)), Turn("owner", ("aww",))),
                           (1, 2), START),)
    turns = (Turn("partner", ("how is the puppy?",)), Turn("owner", ("rex is great",)),
             Turn("partner", ("and work?",)), Turn("owner", ("busy",)))
    dialogue = Dialogue(turns, "Anna", memory=memory)
    conversations = [Conversation(ANNA, replace(dialogue, memory=())), Conversation(BORIS, dialogue, memory_used=(1,))]
    fmt = PromptFormat.for_training(tiny_tokenizer, memory=True)

    drills = memory_drills(tiny_tokenizer, fmt, conversations, 512, 10, passes=2)
    assert [(d.conversation, d.labelled, d.drill) for d in drills] == [(1, (1,), 1), (1, (1,), 2)]
    row = drills[0].row
    prompt = fmt.encode_prompt(tiny_tokenizer, replace(dialogue, turns=turns[:1]))
    assert row["input_ids"][:len(prompt)] == prompt  # what serving shows before "rex is great", memory included
    labelled = tiny_tokenizer.decode([t for t in row["labels"] if t != IGNORE_INDEX])
    assert "rex is great" in labelled and "busy" not in tiny_tokenizer.decode(row["input_ids"])
    assert drills[1].row == row
    assert drills[0].memory_tokens == len(row["input_ids"])  # all of a drill is what memory adds

    assert memory_drills(tiny_tokenizer, fmt, conversations, 512, 10, passes=0) == []
    without = PromptFormat.for_training(tiny_tokenizer, memory=False)
    assert memory_drills(tiny_tokenizer, without, conversations, 512, 10, passes=2) == []
