"""The synthetic export the benchmarks and tests share (`testdata.exports`): the size asked for, a
file the real importer takes whole, the same file for the same spec, and bad sizes refused."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from samples import SAMPLE_EXPORT
from storage import Database
from telegram_export import import_export
from testdata.conversations import OWNER_ID, START
from testdata.exports import ExportSpec, main, write_export

# No session is longer than this: a link, 5 exchanges of a double text, a two-part reply and a
# sticker, then a call (a group session: 7 two-part lines and a photo).
LONGEST_SESSION = 1 + 5 * (2 + 2 + 1) + 1


def _chats(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text(encoding="utf-8"))["chats"]["list"]


async def test_an_export_of_the_owner_messages_asked_for_imports_whole(tmp_path: Path, db: Database) -> None:
    path = tmp_path / "result.json"
    written = write_export(path, ExportSpec(owner_messages=200, contacts=4, groups=1, months=2))

    imported = await import_export(db, path)

    assert written.owner_messages >= 200
    assert imported.owner_id == OWNER_ID and imported.chats == written.chats == 5
    assert imported.messages_added + imported.service_skipped == written.messages
    own = sum(m.get("from_id") == f"user{OWNER_ID}" for c in _chats(path) for m in c["messages"])
    assert own == written.owner_messages


def test_the_size_in_messages_stops_with_the_session_that_reaches_it(tmp_path: Path) -> None:
    written = write_export(tmp_path / "result.json", ExportSpec(messages=500, contacts=3))

    assert 500 <= written.messages < 500 + LONGEST_SESSION
    assert written.messages == sum(len(c["messages"]) for c in _chats(tmp_path / "result.json"))


def test_each_chat_reads_in_time_order_within_its_months(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    write_export(path, ExportSpec(messages=3000, contacts=6, groups=2, months=3))

    for chat in _chats(path):
        messages = chat["messages"]
        ids = [m["id"] for m in messages]
        dates = [int(m["date_unixtime"]) for m in messages]
        assert ids == sorted(set(ids)) and dates == sorted(dates), chat["name"]
        assert {m["reply_to_message_id"] for m in messages if "reply_to_message_id" in m} <= set(ids)
        # a chat's last session may start a little after its planned date, behind the one before it
        assert START.timestamp() <= dates[0] and dates[-1] <= (START + timedelta(days=3 * 30 + 1)).timestamp()


def test_the_export_holds_what_real_ones_do(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    write_export(path, ExportSpec(messages=3000, contacts=6, groups=2))
    chats = _chats(path)
    messages = [m for c in chats for m in c["messages"]]

    assert {c["type"] for c in chats} == {"personal_chat", "private_supergroup"}
    assert any("edited_unixtime" in m for m in messages)
    assert any("reply_to_message_id" in m for m in messages)
    assert any(e["type"] == "link" for m in messages for e in m["text_entities"])
    assert {m.get("media_type") for m in messages} >= {"sticker", "voice_message"}
    assert any(m["type"] == "service" for m in messages)


def test_the_same_spec_writes_the_same_file(tmp_path: Path) -> None:
    spec = ExportSpec(owner_messages=300, contacts=5, groups=1)
    write_export(tmp_path / "a.json", spec)
    write_export(tmp_path / "b.json", spec)
    write_export(tmp_path / "c.json", ExportSpec(owner_messages=300, contacts=5, groups=1, seed=spec.seed + 1))

    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    assert (tmp_path / "a.json").read_bytes() != (tmp_path / "c.json").read_bytes()


@pytest.mark.parametrize(("spec", "error"), [
    ({}, "an export needs a size"),
    ({"messages": 0}, "messages must be at least 1, not 0"),
    ({"owner_messages": 10, "contacts": 0}, "contacts and months must be at least 1"),
    ({"owner_messages": 10, "groups": -1}, "groups at least 0"),
])
def test_a_spec_without_a_size_or_with_impossible_numbers_is_refused(spec: dict[str, int], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        ExportSpec(**spec)


def test_the_command_says_what_is_wrong_in_one_line_and_writes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundled = SAMPLE_EXPORT.read_bytes()
    with pytest.raises(SystemExit) as refused:
        main(["--contacts", "3", "--out", str(tmp_path / "history.json")])
    with pytest.raises(SystemExit) as bundled_refused:
        main(["--messages", "100", "--out", str(SAMPLE_EXPORT)])

    assert refused.value.code == bundled_refused.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert errors == ["python -m testdata.exports: error: an export needs a size: owner_messages or messages",
                      "python -m testdata.exports: error: sample_export.json is the bundled sample "
                      "(python -m testdata.sample); write elsewhere"]
    assert not (tmp_path / "history.json").exists() and SAMPLE_EXPORT.read_bytes() == bundled


def test_the_command_writes_the_export_and_says_what_it_holds(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "nested" / "history.json"
    main(["--owner-messages", "50", "--contacts", "2", "--out", str(out)])

    chats = _chats(out)
    total = sum(len(c["messages"]) for c in chats)
    assert capsys.readouterr().out.startswith(f"{out}: {len(chats)} chats, {total:,} messages, ")
