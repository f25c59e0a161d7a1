"""memory_recall (`training.evaluation.memory_recall`): which held-out turns depend on a fact from earlier in the
chat, and the share of them a generated reply brings back. Hand-built histories for the rules, and
the generated history (`testdata.exports`) for the detector against the facts it planted."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.dialogue import Turn, context_before
from storage import MessageRow
from testdata.exports import ExportSpec, write_export
from tests.testdata.export_rows import CONTEXT_TURNS, chat_rows, chat_sessions
from training.evaluation.memory_recall import (
    FactDependentTurn,
    HeldOutTurn,
    HistoryWords,
    MemoryRecall,
    fact_dependent_turns,
    index_history,
    memory_recall,
)

DAY = 86_400
MONDAY, THURSDAY = 1_718_000_000, 1_718_000_000 + 3 * DAY


def _message(chat_id: int, date: int, text: str, outgoing: bool = False) -> MessageRow:
    return MessageRow(chat_id, date, None if outgoing else 7, None if outgoing else "Mia", outgoing, date, text)


def _turn(question: str, reply: str, chat_id: int = 1, session_start: int = THURSDAY) -> HeldOutTurn:
    """An owner turn on Thursday answering `question`, the first thing said in its session."""
    return HeldOutTurn(chat_id, session_start, (Turn("partner", (question,), "Mia", THURSDAY),),
                       Turn("owner", tuple(reply.split("\n")), None, THURSDAY + 60))


def _history(*said: tuple[int, int, str]) -> HistoryWords:
    """A history of (chat, date, text), with Thursday's question and answer in chat 1."""
    messages = [_message(chat, date, text) for chat, date, text in said]
    messages += [_message(1, THURSDAY, "how is your dog doing?"), _message(1, THURSDAY + 60, "rex is fine", True)]
    chats: dict[int, list[MessageRow]] = {}
    for message in messages:
        chats.setdefault(message.chat_id, []).append(message)
    return index_history(chats)


def test_a_reply_naming_what_was_said_days_before_is_recalled_only_when_the_generated_one_names_it_too() -> None:
    words = _history((1, MONDAY, "we adopted a dog! his name is Rex"))
    turns = [_turn("how is your dog doing?", "rex is fine"), _turn("how is your dog doing?", "Rex is fine\nhe sleeps")]

    scored = memory_recall(words, turns, ["REX is great!", "he is fine\nsleeping all day"])

    assert scored == MemoryRecall(0.5, 2, (FactDependentTurn(0, "rex", True), FactDependentTurn(1, "rex", False)))


@pytest.mark.parametrize(("said", "turn"), [
    ([(1, MONDAY, "his name is Rex")], _turn("how is Rex doing?", "rex is fine")),  # in the window
    ([(2, MONDAY, "his name is Rex")], _turn("how is your dog doing?", "rex is fine")),  # another chat's
    ([(1, THURSDAY - 60, "his name is Rex")],  # in the turn's own session, out of the window
     _turn("how is your dog doing?", "rex is fine", session_start=THURSDAY - 120)),
    ([(1, THURSDAY + DAY, "his name is Rex")], _turn("how is your dog doing?", "rex is fine")),  # said later
    ([(1, MONDAY + i, "rex rex") for i in range(4)], _turn("how is your dog doing?", "rex is fine")),  # not rare
    ([(1, MONDAY, "about 42 of us, ok")], _turn("how many?", "about 42, ok")),  # a stop word, a number, too short
], ids=["in-window", "other-chat", "same-session", "said-later", "common", "not-content"])
def test_a_word_from_the_window_another_chat_the_same_session_or_the_future_is_no_fact(
        said: list[tuple[int, int, str]], turn: HeldOutTurn) -> None:
    words = _history(*said)

    assert fact_dependent_turns(words, [turn]) == ()
    assert memory_recall(words, [turn], ["rex is fine"]) == MemoryRecall(None, 0, ())


def test_russian_endings_and_yo_are_compared_as_one_word() -> None:
    words = _history((1, MONDAY, "мы летим в Ригу с Лёвой"))
    turns = [_turn("ну как съездили?", "Рига супер"), _turn("кто с тобой был?", "лева")]

    scored = memory_recall(words, turns, ["в Риге было здорово", "Лёва, конечно"])

    assert scored == MemoryRecall(1.0, 2, (FactDependentTurn(0, "риг", True), FactDependentTurn(1, "лев", True)))


def test_the_rarest_word_of_a_reply_is_its_fact() -> None:
    words = _history((1, MONDAY, "the harbor is nice"), (1, MONDAY + 60, "harbor or lotus?"))

    found = fact_dependent_turns(words, [_turn("where do we meet?", "lotus by the harbor")])

    assert found == (FactDependentTurn(0, "lotus"),)


def test_one_generated_reply_per_turn_is_needed() -> None:
    with pytest.raises(ValueError, match="^one generated reply per turn is needed: 1 replies for 2 turns$"):
        memory_recall(_history(), [_turn("hi", "hey"), _turn("hi", "hey")], ["hey"])


def test_on_the_generated_history_the_fact_dependent_turns_are_the_planted_questions(tmp_path: Path) -> None:
    path = tmp_path / "history.json"
    planted = write_export(path, ExportSpec(owner_messages=10_000, contacts=40, months=6)).facts
    rows = chat_rows(path)
    turns = [HeldOutTurn(chat_id, session[0].date, context_before(session, i, CONTEXT_TURNS), turn)
             for chat_id, chat in rows.items() for session in chat_sessions(chat)
             for i, turn in enumerate(session) if turn.role == "owner"]
    words = index_history(rows)

    found = fact_dependent_turns(words, turns)
    detected = {(turns[t.index].chat_id, turns[t.index].reply.message_id) for t in found}
    asked = {(f.chat_id, f.answered_in[0]) for f in planted if f.answered_in}
    hits = len(detected & asked)
    assert len(asked) > 150
    assert hits / len(detected) >= 0.95 and hits / len(asked) >= 0.95  # precision and recall: 159 of 159 both
    real = memory_recall(words, turns, [t.reply.text for t in turns])
    forgetful = memory_recall(words, turns, ["ok\nyou?" for _ in turns])
    assert real.recall == 1.0 and forgetful.recall == 0.0 and real.fact_dependent == len(found)
