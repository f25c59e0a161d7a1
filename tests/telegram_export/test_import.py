"""Telegram Desktop export import: both shapes, text forms, ids, idempotency, and bad input
leaving the database exactly as it was."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from storage import ChatRow, Database, MessageRow, kv
from storage import chats as chat_queries
from storage import messages as message_queries
from telegram_export import ExportFormatError, import_export, json_stream, read_ahead, walker
from telegram_export.rows import kurigram_chat, media_kind, message_text, peer_id

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "sample_export.json"
OWNER = 42


def _message(message_id: int, sender: int, text: Any = "hi", **extra: Any) -> dict[str, Any]:
    return {"id": message_id, "type": "message", "date": "2024-01-01T10:00:00",
            "date_unixtime": str(1_704_103_200 + message_id * 60), "from": f"User {sender}",
            "from_id": f"user{sender}", "text": text, **extra}


def _single_chat(messages: list[dict[str, Any]], chat_id: int = 7, name: str | None = "Bob") -> dict[str, Any]:
    return {"name": name, "type": "personal_chat", "id": chat_id, "messages": messages}


def _write(tmp_path: Path, data: Any, name: str = "result.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def _sample_counts() -> tuple[int, int, int, int]:
    """The sample's counts without its bot chat: bots are service chats, never stored by default."""
    data = json.loads(SAMPLE.read_text(encoding="utf-8"))
    owner = f"user{data['personal_information']['user_id']}"
    kept = [chat for chat in data["chats"]["list"] if chat["type"] != "bot_chat"]
    messages = [m for chat in kept for m in chat["messages"]]
    real = [m for m in messages if m["type"] == "message"]
    return len(kept), len(real), sum(m["from_id"] == owner for m in real), len(messages) - len(real)


async def test_full_account_export(db: Database) -> None:
    chats, messages, owner_messages, service = _sample_counts()
    result = await import_export(db, SAMPLE)
    assert (result.chats, result.messages_added, result.service_skipped) == (chats, messages, service)
    counts = await message_queries.counts(db)
    assert (counts.chats, counts.messages, counts.owner_messages) == (chats, messages, owner_messages)
    assert await kv.get_value(db, kv.OWNER_ID) == result.owner_id
    by_id = {c.id: c for c in await chat_queries.list_chats(db)}
    assert by_id[-1_001_987_654_321].type == "supergroup"
    assert 5550199 not in by_id  # the sample's bot chat: a service chat, not stored
    owner = await chat_queries.get_user(db, result.owner_id)
    assert owner is not None and owner.username == "alex_novak_sample"
    edited = await db.fetchall("SELECT text FROM messages WHERE edited_at IS NOT NULL")
    assert len(edited) == 1
    media = {r["media"] for r in await db.fetchall("SELECT DISTINCT media FROM messages WHERE media IS NOT NULL")}
    assert {"sticker", "photo", "voice", "video_note", "location"} <= media
    stickers = await db.fetchall("SELECT text FROM messages WHERE media = 'sticker'")
    assert stickers and all(r["text"] for r in stickers)  # the emoji is kept as the text


async def test_second_import_adds_nothing(db: Database) -> None:
    first = await import_export(db, SAMPLE)
    dump = await _messages_dump(db)
    second = await import_export(db, SAMPLE)
    assert second.messages_added == 0
    assert second.messages_skipped == first.messages_added
    assert await _messages_dump(db) == dump


async def _messages_dump(db: Database) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in await db.fetchall("SELECT * FROM messages ORDER BY chat_id, message_id")]


async def test_single_chat_export_with_owner_id(db: Database, tmp_path: Path) -> None:
    export = _single_chat([
        _message(1, 7, "hello"),
        _message(2, OWNER, ["see ", {"type": "link", "text": "https://example.org"}, " ",
                            {"type": "bold", "text": "now"}]),
        {"id": 3, "type": "service", "date_unixtime": "1704103500", "actor": "Bob", "action": "phone_call"},
        _message(4, OWNER, "", media_type="sticker", file="s.webp", sticker_emoji="👍", reply_to_message_id=1),
        _message(5, 7, "fwd", forwarded_from="Carol", edited_unixtime="1704103999"),
    ])
    with pytest.raises(ExportFormatError, match="unknown owner"):
        await import_export(db, _write(tmp_path, export))
    result = await import_export(db, _write(tmp_path, export), owner_id=OWNER)
    assert (result.chats, result.messages_added, result.service_skipped, result.media_placeholders) == (1, 4, 1, 1)
    rows = {r.message_id: r for r in [await message_queries.get_message(db, 7, i) for i in (1, 2, 4, 5)] if r}
    assert rows[2].text == "see https://example.org now" and rows[2].outgoing and not rows[1].outgoing
    assert (rows[4].media, rows[4].text, rows[4].reply_to) == ("sticker", "👍", 1)
    assert rows[5].forwarded and rows[5].edited_at == 1_704_103_999
    assert rows[1].date == 1_704_103_260 and rows[1].sender_name == "User 7"
    assert (await chat_queries.get_chat(db, 7)).title == "Bob"


async def test_stored_owner_is_used_and_a_different_owner_refused(db: Database, tmp_path: Path) -> None:
    await kv.set_value(db, kv.OWNER_ID, OWNER)
    result = await import_export(db, _write(tmp_path, _single_chat([_message(1, OWNER)])))
    assert result.owner_id == OWNER
    with pytest.raises(ExportFormatError, match="belongs to owner 42"):
        await import_export(db, _write(tmp_path, _single_chat([_message(1, 9)])), owner_id=9)


async def test_personal_chat_without_name_takes_partners_name(db: Database, tmp_path: Path) -> None:
    export = _single_chat([_message(1, 7), _message(2, OWNER)], name=None)
    await import_export(db, _write(tmp_path, export), owner_id=OWNER)
    assert (await chat_queries.get_chat(db, 7)).title == "User 7"


async def test_imported_history_merges_with_harvested(db: Database, tmp_path: Path) -> None:
    harvested = MessageRow(-1_000_000_000_123, 1, 7, "User 7", False, 1_704_103_260, "hi")
    await message_queries.upsert_messages(db, [harvested])
    export = {"name": "Team", "type": "public_supergroup", "id": 123, "messages": [_message(1, 7), _message(2, 8)]}
    result = await import_export(db, _write(tmp_path, export), owner_id=OWNER)
    assert (result.messages_added, result.messages_skipped) == (1, 1)


async def test_left_chats_are_imported(db: Database, tmp_path: Path) -> None:
    export = {"personal_information": {"user_id": OWNER, "first_name": "Me"},
              "chats": {"list": [_single_chat([_message(1, 7)])]},
              "left_chats": {"about": "", "list": [{"name": "Old", "type": "private_group", "id": 55,
                                                     "messages": [_message(1, OWNER)]}]}}
    result = await import_export(db, _write(tmp_path, export))
    assert (result.chats, result.messages_added) == (2, 2)
    assert (await chat_queries.get_chat(db, -55)).type == "group"


@pytest.mark.parametrize(("export_type", "export_id", "expected"), [
    ("personal_chat", 7, (7, "private")),
    ("bot_chat", 8, (8, "bot")),
    ("saved_messages", 42, (42, "self")),
    ("private_group", 55, (-55, "group")),
    ("private_supergroup", 1234, (-1_000_000_001_234, "supergroup")),
    ("public_supergroup", 1234, (-1_000_000_001_234, "supergroup")),
    ("private_channel", 99, (-1_000_000_000_099, "channel")),
    ("public_channel", 99, (-1_000_000_000_099, "channel")),
    ("something_new", 1, None),
])
def test_chat_id_convention(export_type: str, export_id: int, expected: tuple[int, str] | None) -> None:
    assert kurigram_chat(export_type, export_id) == expected


def test_peer_ids_and_texts_and_media() -> None:
    assert (peer_id("user5"), peer_id("channel5"), peer_id("chat5"), peer_id(None), peer_id("x")) == (
        5, -1_000_000_000_005, -5, None, None)
    assert message_text(["a", {"type": "italic", "text": "b"}, {"type": "mention", "text": "@c"}]) == "ab@c"
    with pytest.raises(ExportFormatError):
        message_text(7)
    cases = {
        "voice": {"media_type": "voice_message"}, "video_note": {"media_type": "video_message"},
        "video": {"media_type": "video_file"}, "audio": {"media_type": "audio_file"},
        "animation": {"media_type": "animation"}, "photo": {"photo": "p.jpg"}, "document": {"file": "f.pdf"},
        "location": {"location_information": {}}, "contact": {"contact_information": {}}, "poll": {"poll": {}},
    }
    for kind, message in cases.items():
        assert media_kind(message) == kind
    assert media_kind({"text": "plain"}) is None


def _truncated_sample() -> str:
    text = SAMPLE.read_text(encoding="utf-8")
    return text[: int(len(text) * 0.9)]


# case → (file content, expected reason, --owner-id)
BAD_INPUTS: dict[str, tuple[Any, str, int | None]] = {
    "not json": ("this is not json", "not valid JSON|not a JSON object", None),
    "truncated": (None, "truncated", None),
    "top level is a list": ([1, 2, 3], "top level is not a JSON object", None),
    "no chats": ({"about": "x"}, "no `chats` or `messages`", None),
    "messages not a list": ({"name": "B", "type": "personal_chat", "id": 7, "messages": {"id": 1}},
                            "messages is not a list", OWNER),
    "chats not an object": ({"personal_information": {"user_id": OWNER}, "chats": []},
                            "chats is not a JSON object", None),
    "message not an object": (_single_chat(["hi"]), "not a JSON object", OWNER),
    "message without id": (_single_chat([{"type": "message", "date_unixtime": "1"}]), "integer id", OWNER),
    "message without date": (_single_chat([{"id": 1, "type": "message", "text": "x"}]), "no date", OWNER),
    "text of wrong type": (_single_chat([_message(1, 7, text=5)]), "not a string or list", OWNER),
    "sender of wrong type": (_single_chat([_message(1, 7, from_id=["user7"])]), "from_id that is not a string", OWNER),
    "messages before id": ({"name": "B", "messages": [_message(1, 7)], "type": "personal_chat", "id": 7},
                           "before its `id`", OWNER),
    "unknown owner": ({"chats": {"list": [_single_chat([_message(1, 7)])]}}, "unknown owner", None),
    "owner mismatch": ({"personal_information": {"user_id": 5}, "chats": {"list": []}}, "does not match", 7),
    "trailing data": ('{"chats": {"list": []}, "personal_information": {"user_id": 42}} {}', "after the end", None),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
async def test_bad_input_leaves_database_unchanged(
    case: str, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Some earlier state (but no owner yet, so "unknown owner" can happen).
    await chat_queries.upsert_chats(db, [ChatRow(7, "private", "Bob")])
    await message_queries.insert_messages(db, [MessageRow(7, 1, 7, "Bob", False, 1_704_103_260, "hi")], "export")
    await kv.set_value(db, "unrelated", 1)
    monkeypatch.setattr(walker, "CHUNK_ROWS", 100)  # several chunks go in before the error
    before = await db.dump()
    data, reason, owner_id = BAD_INPUTS[case]
    path = _write(tmp_path, _truncated_sample() if data is None else data)
    with pytest.raises(ExportFormatError, match=reason) as caught:
        await import_export(db, path, owner_id=owner_id)
    assert "\n" not in str(caught.value)
    assert await db.dump() == before


async def test_rollback_after_many_chunks(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file cut near its end: chunks were inserted, then everything is rolled back."""
    monkeypatch.setattr(walker, "CHUNK_ROWS", 50)
    inserted: list[int] = []
    with pytest.raises(ExportFormatError, match="truncated"):
        await import_export(db, _write(tmp_path, _truncated_sample()), progress=inserted.append)
    assert inserted and inserted[-1] > 1000
    assert (await message_queries.counts(db)).messages == 0
    assert await kv.get_value(db, kv.OWNER_ID) is None


async def test_missing_file_and_non_utf8(db: Database, tmp_path: Path) -> None:
    with pytest.raises(ExportFormatError, match="no such file"):
        await import_export(db, tmp_path / "nope.json")
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"name": "\xe9", "type": "personal_chat", "id": 1, "messages": []}')
    with pytest.raises(ExportFormatError, match="UTF-8"):
        await import_export(db, path, owner_id=OWNER)


async def test_values_split_across_read_pieces(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiny read pieces: values, numbers and multi-byte characters straddle piece boundaries."""
    monkeypatch.setattr(json_stream, "_READ_BYTES", 7)
    export = _single_chat([_message(i, 7 if i % 2 else OWNER, f"текст {i} 🙂" * 3) for i in range(1, 40)],
                          chat_id=123456789)
    result = await import_export(db, _write(tmp_path, export), owner_id=OWNER)
    assert result.messages_added == 39
    row = await message_queries.get_message(db, 123456789, 39)
    assert row is not None and row.text == "текст 39 🙂" * 3


async def test_reader_process_path(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Large files are read in a child process: same rows, same errors, same rollback."""
    monkeypatch.setattr(read_ahead, "PROCESS_THRESHOLD_BYTES", 0)
    with pytest.raises(ExportFormatError, match="truncated"):
        await import_export(db, _write(tmp_path, _truncated_sample()))
    assert (await message_queries.counts(db)).messages == 0
    seen: list[int] = []
    result = await import_export(db, SAMPLE, progress=seen.append)
    _, messages, owner_messages, service = _sample_counts()
    assert (result.messages_added, result.service_skipped) == (messages, service)
    assert seen == sorted(seen) and seen[-1] == messages + service
    assert (await message_queries.counts(db)).owner_messages == owner_messages


async def test_a_service_chat_is_imported_only_when_the_owner_allows_it(db: Database) -> None:
    """The sample's bot chat is a service chat: skipped by default, kept when its id is allowed."""
    skipped = await import_export(db, SAMPLE)
    assert 5550199 not in {c.id for c in await chat_queries.list_chats(db)} and skipped.chats_skipped == 1
    allowed = await import_export(db, SAMPLE, allowed_service_chats=(5550199,))
    assert 5550199 in {c.id for c in await chat_queries.list_chats(db)} and allowed.chats_skipped == 0
