"""Recurring facts in the synthetic history (`testdata.facts`): stated in one session, asked about a
day or more later in another, answered with the fact; the same for the same seed; each chat its
own; the fact the one rare word in Alex's answer."""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from datetime import timedelta
from pathlib import Path

import pytest

from testdata.conversations import EN_EXCHANGES, RU_EXCHANGES, WORK_EXCHANGES
from testdata.exports import ExportSpec, main, write_export
from testdata.fact_lines import ENGLISH, RUSSIAN, FactLanguage
from tests.testdata.export_rows import chat_rows, chat_sessions
from training.evaluation.memory_recall import content_words

Exchanges = list[tuple[list[str], list[str]]]
SPEC = ExportSpec(owner_messages=3000, contacts=8, months=3)
LANGUAGES = [(ENGLISH, EN_EXCHANGES + WORK_EXCHANGES), (RUSSIAN, RU_EXCHANGES)]


def _texts(path: Path) -> dict[int, dict[int, str]]:
    """Chat id → message id → its text as stored."""
    return {chat_id: {row.message_id: row.text for row in rows} for chat_id, rows in chat_rows(path).items()}


def _session_of(path: Path) -> dict[int, list[int]]:
    """Chat id → the first message id of each of its sessions, as the dataset cuts them."""
    return {chat_id: [session[0].message_id for session in chat_sessions(rows)]
            for chat_id, rows in chat_rows(path).items()}


def test_each_fact_is_asked_a_day_or_more_later_in_another_session_and_answered_with_it(tmp_path: Path) -> None:
    path = tmp_path / "history.json"
    facts = write_export(path, SPEC).facts
    texts, starts = _texts(path), _session_of(path)
    asked = [f for f in facts if f.asked_in is not None]

    assert len(asked) >= 0.8 * len(facts) > 20
    assert {f.stated_by for f in asked} == {"partner", "owner"}
    assert {f.kind for f in asked} == {"dog", "cat", "friend", "baby", "plan", "trip"}
    assert any(re.search("[а-я]", f.word.lower()) for f in asked) and any(f.word.isascii() for f in asked)
    for fact in asked:
        chat, word = texts[fact.chat_id], fact.word.lower()
        assert fact.asked_in is not None and fact.asked_date is not None
        assert word in " ".join(chat[i] for i in fact.stated_in).lower()
        assert word not in chat[fact.asked_in].lower()
        assert word in " ".join(chat[i] for i in fact.answered_in)
        assert fact.asked_date - fact.stated_date >= timedelta(days=1).total_seconds()
        stated_session = bisect_right(starts[fact.chat_id], fact.stated_in[0])
        asked_session = bisect_right(starts[fact.chat_id], fact.asked_in)
        assert asked_session > stated_session, fact
        assert fact.asked_in - starts[fact.chat_id][asked_session - 1] <= 1  # it opens its session (or a link does)


def test_the_same_seed_plants_the_same_facts_and_each_chat_its_own(tmp_path: Path) -> None:
    facts = write_export(tmp_path / "a.json", SPEC).facts
    again = write_export(tmp_path / "b.json", SPEC).facts
    other_seed = write_export(tmp_path / "c.json", ExportSpec(owner_messages=3000, contacts=8, months=3,
                                                              seed=SPEC.seed + 1)).facts

    assert facts == again and facts != other_seed
    words: dict[int, list[str]] = {}
    for fact in facts:
        words.setdefault(fact.chat_id, []).append(fact.word)
    assert all(len(set(chat)) == len(chat) for chat in words.values())  # a word is a fact once per chat
    busy = [tuple(chat) for chat in words.values() if len(chat) >= 3]
    assert len(busy) >= 4 and len(set(busy)) == len(busy)
    groups = write_export(tmp_path / "d.json", ExportSpec(messages=2000, contacts=2, groups=2)).facts
    assert {f.chat_id for f in groups} <= {5551000, 5551001}  # groups have no facts


@pytest.mark.parametrize("language", [ENGLISH, RUSSIAN], ids=["english", "russian"])
def test_the_pools_leave_guessing_at_chance(language: FactLanguage) -> None:
    everyday = " ".join(line for _, exchanges in LANGUAGES for exchange in exchanges for part in exchange
                        for line in part).lower()
    for kind in language.kinds:
        assert len(set(kind.pool)) == len(kind.pool) >= 32, kind.name  # a guess is right 1 time in 32
        assert not [word for word in kind.pool if re.search(rf"\b{word.lower()}\b", everyday)]


@pytest.mark.parametrize(("language", "everyday"), LANGUAGES, ids=["english", "russian"])
def test_alex_says_nothing_rare_in_a_fact_exchange_but_the_fact(language: FactLanguage, everyday: Exchanges) -> None:
    common = set().union(*(content_words(line) for exchange in everyday for part in exchange for line in part))
    for kind in language.kinds:
        lines = kind.told_by_partner + kind.asked_after_partner + kind.told_by_owner + kind.asked_after_owner
        for question, reply in lines:
            assert reply.count("|") == 1 and "|" not in question
            assert not content_words(reply.replace("{word}", "").replace("{day}", "")) - common, reply
        for question, _ in kind.asked_after_partner + kind.asked_after_owner:
            assert "{word}" not in question


def test_the_command_says_how_many_facts_it_planted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "history.json"
    main(["--owner-messages", "1000", "--contacts", "3", "--months", "2", "--out", str(out)])

    printed = capsys.readouterr().out
    found = re.search(r", ([\d,]+) recurring facts \(([\d,]+) asked about days later\)$", printed.strip())
    assert found and 0 < int(found[2]) <= int(found[1])
    assert len(json.loads(out.read_text(encoding="utf-8"))["chats"]["list"]) == 3
