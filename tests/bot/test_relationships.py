"""Relationship suggestions: conservative rules on plain facts, stored as a suggestion by the
harvest (through the fake Telegram server), used only once confirmed or with automatic use on."""

from __future__ import annotations

import pytest

from bot.harvest import harvest
from bot.relationships import ContactFacts, script_of, suggest_relationship
from storage import ChatRow, Database, InvalidValue
from storage import chats as chat_queries
from testdata.telegram_fake import FakeTelegram, make_message, make_user

DAY = 86400


@pytest.mark.parametrize("title, expected", [
    ("Мама", "parent"), ("Mom ❤️", "parent"), ("My Dad", "parent"), ("Бабушка", "grandparent"),
    ("Брат", "sibling"), ("Жена", "spouse"),
])
def test_a_title_naming_the_relationship_is_suggested(title: str, expected: str) -> None:
    suggestion = suggest_relationship(ContactFacts(5, title))
    assert suggestion is not None and suggestion.relationship == expected and title in suggestion.reason


@pytest.mark.parametrize("title", ["Anna", "Mom's friend Anna", "Мамин телефон", "Dmitry Petrov"])
def test_names_and_longer_titles_are_not_guessed(title: str) -> None:
    assert suggest_relationship(ContactFacts(5, title)) is None  # no contact data either


def test_contact_data_gives_only_what_it_supports() -> None:
    talkative = ContactFacts(5, "Anna", is_contact=True, is_mutual_contact=True, shared_groups=2, messages=900,
                             first_date=0, last_date=300 * DAY, partner_texts=("привет, как дела? " * 3,))
    close = suggest_relationship(talkative)
    assert close is not None and close.relationship == "close contact"
    assert "mutual contact" in close.reason and "2 shared group(s)" in close.reason and "Cyrillic" in close.reason
    rare = ContactFacts(5, "Anna", is_contact=True, is_mutual_contact=True, messages=10, first_date=0,
                        last_date=300 * DAY)
    assert suggest_relationship(rare).relationship == "contact"
    stranger = ContactFacts(5, "Anna", is_contact=False, is_mutual_contact=False, messages=3, first_date=0,
                            last_date=DAY)
    assert suggest_relationship(stranger).relationship == "acquaintance"
    assert script_of(["hi"]) is None and script_of(["hello there, how are you doing"]) == "Latin"


async def test_confirming_copies_the_suggestion_and_auto_use_is_opt_in(db: Database) -> None:
    await chat_queries.upsert_chats(db, [ChatRow(5, "private", "Мама")])
    with pytest.raises(InvalidValue):
        await chat_queries.confirm_relationship(db, 5)
    await chat_queries.set_relationship_suggestion(db, 5, "parent", "chat title 'Мама'")
    chat = await chat_queries.get_chat(db, 5)
    assert chat.relationship is None and chat.relationship_in_use(auto_use=False) is None
    assert chat.relationship_in_use(auto_use=True) == "parent"
    confirmed = await chat_queries.confirm_relationship(db, 5)
    assert confirmed.relationship == "parent" and confirmed.relationship_in_use(auto_use=False) == "parent"
    await chat_queries.set_relationship_suggestion(db, 5, "contact", "in contacts")
    assert (await chat_queries.get_chat(db, 5)).relationship == "parent"  # a new suggestion never overrides


async def test_harvest_stores_suggestions_from_telegrams_data(client, server: FakeTelegram, db: Database) -> None:
    server.add_user(make_user(5, "Мама", mutual_contact=True))
    server.add_user(make_user(6, "Anna", contact=True))
    server.add_user(make_user(7, "Stranger"))
    server.common_chats[6] = 3
    for chat_id in (5, 6, 7):
        server.set_history(chat_id, [make_message(1, chat_id, text="hello"),
                                     make_message(2, chat_id, text="hi", out=True)])
    await harvest(client, db, [5, 6, 7])
    chats = {c.id: c for c in await chat_queries.list_chats(db)}
    assert chats[5].relationship_suggestion == "parent" and "mutual contact" in chats[5].relationship_reason
    assert chats[6].relationship_suggestion == "contact" and "3 shared group(s)" in chats[6].relationship_reason
    assert chats[7].relationship_suggestion == "acquaintance" and "not in contacts" in chats[7].relationship_reason
    assert all(c.relationship is None for c in chats.values())
