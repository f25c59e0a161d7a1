"""A successful import never erases what is known about the owner or other users (profile
fields are merged), and exports that carry only `text_entities` keep their texts."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from storage import Database, UserRow
from storage import chats as chat_queries
from storage import messages as message_queries
from telegram_export import import_export
from telegram_export.transaction import merge_user

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "sample_export.json"
SAMPLE_OWNER = 5550001  # Alex Novak, @alex_novak_sample


def _write(tmp_path: Path, data: Any, name: str = "result.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def _message(message_id: int, sender: int, name: str, **fields: Any) -> dict[str, Any]:
    return {"id": message_id, "type": "message", "date": "2024-05-01T10:00:00",
            "date_unixtime": str(1_714_557_600 + message_id), "from": name, "from_id": f"user{sender}", **fields}


async def test_single_chat_export_keeps_owner_last_name_and_username(db: Database, tmp_path: Path) -> None:
    await import_export(db, SAMPLE)
    assert await chat_queries.get_user(db, SAMPLE_OWNER) == UserRow(SAMPLE_OWNER, "Alex", "Novak", "alex_novak_sample")
    # A later single-chat export: no profile; the owner appears only as the sender "Alex".
    single = {"name": "Mia Torres", "type": "personal_chat", "id": 5550101,
              "messages": [_message(900, SAMPLE_OWNER, "Alex", text="see you"),
                           _message(901, 5550101, "Mia Torres", text="bye")]}
    result = await import_export(db, _write(tmp_path, single))
    assert result.messages_added == 2
    assert await chat_queries.get_user(db, SAMPLE_OWNER) == UserRow(SAMPLE_OWNER, "Alex", "Novak", "alex_novak_sample")


async def test_profile_fields_merge_and_harvested_users_keep_their_names(db: Database, tmp_path: Path) -> None:
    # What harvest/live sync stored from Telegram: real first/last names and usernames.
    await chat_queries.upsert_users(db, [UserRow(42, "Ann", "Lee", "ann"), UserRow(7, "Bob", "Smith", "bobby")])
    export = {
        # A newer first name, no last name, no username: the known ones stay.
        "personal_information": {"user_id": 42, "first_name": "Annie", "last_name": "", "phone_number": "+1"},
        "chats": {"list": [{"name": "Bob Smith", "type": "personal_chat", "id": 7, "messages": [
            _message(1, 7, "Bob Smith", text="hi"), _message(2, 42, "Annie", text="hello"),
            _message(3, 8, "Carol Jones", text="wrong chat, hi"),
        ]}]},
    }
    await import_export(db, _write(tmp_path, export))
    assert await chat_queries.get_user(db, 42) == UserRow(42, "Annie", "Lee", "ann")
    assert await chat_queries.get_user(db, 7) == UserRow(7, "Bob", "Smith", "bobby")
    assert await chat_queries.get_user(db, 8) == UserRow(8, "Carol Jones")  # unknown before: the export's name


def test_merge_user_rules() -> None:
    stored = UserRow(1, "Ann", None, "ann", is_bot=False)
    assert merge_user(None, UserRow(1, "X"), incoming_wins=False) == UserRow(1, "X")
    assert merge_user(stored, UserRow(1, "Annie", "Lee", None), incoming_wins=True) == UserRow(1, "Annie", "Lee", "ann")
    assert merge_user(stored, UserRow(1, "Ann Lee", None, None, True), incoming_wins=False) == UserRow(
        1, "Ann", None, "ann", True)


def _entities_only_account_export() -> dict[str, Any]:
    """The full-account shape Telegram Desktop writes, from an exporter that writes only
    `text_entities` (no `text`), as another project's test suite had it."""
    owner, friend = 1_000_001, 1_000_002
    return {
        "about": "Here is the data you requested.",
        "personal_information": {"user_id": owner, "first_name": "Dana", "last_name": "Roe",
                                 "phone_number": "+1 555 0101", "username": "@dana_r", "bio": ""},
        "profile_pictures": [],
        "contacts": {"about": "", "list": [{"first_name": "Eli", "last_name": "", "phone_number": "+1 555 0102",
                                            "date": "2023-01-01T00:00:00", "date_unixtime": "1672531200"}]},
        "frequent_contacts": {"about": "", "list": []},
        "sessions": {"about": "", "list": []},
        "chats": {"about": "This page lists all chats from this export.", "list": [
            {"name": "Eli", "type": "personal_chat", "id": friend, "messages": [
                _message(1, friend, "Eli", text_entities=[{"type": "plain", "text": "did you see "},
                                                          {"type": "text_link", "text": "this", "href": "https://e.x"},
                                                          {"type": "plain", "text": "?"}]),
                _message(2, owner, "Dana", text_entities=[{"type": "bold", "text": "yes"},
                                                          {"type": "plain", "text": ", "},
                                                          {"type": "mention", "text": "@eli"}]),
                _message(3, owner, "Dana", text="", text_entities=[{"type": "plain", "text": "empty text, entities"}]),
                _message(4, friend, "Eli", photo="photos/p.jpg", width=10, height=10),  # media, no caption
                _message(5, friend, "Eli"),  # neither text nor text_entities: unreadable
                {"id": 6, "type": "service", "date": "2024-05-01T10:00:06", "date_unixtime": "1714557606",
                 "actor": "Eli", "actor_id": f"user{friend}", "action": "phone_call", "text_entities": []},
            ]},
        ]},
    }


async def test_text_entities_only_export_keeps_texts(
    db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    result = await import_export(db, _write(tmp_path, _entities_only_account_export()))
    assert (result.messages_added, result.service_skipped, result.media_placeholders) == (5, 1, 1)
    assert result.texts_unreadable == 1
    texts = {i: (await message_queries.get_message(db, 1_000_002, i)).text for i in range(1, 6)}
    assert texts == {1: "did you see this?", 2: "yes, @eli", 3: "empty text, entities", 4: "", 5: ""}
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("1 messages had neither" in w for w in warnings), warnings
    logged = " ".join(r.getMessage() for r in caplog.records if r.levelno >= logging.INFO)
    assert "did you see" not in logged and "@eli" not in logged
