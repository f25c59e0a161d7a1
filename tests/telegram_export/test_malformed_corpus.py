"""A corpus of malformed exports through the real CLI (`main.py import-export`): each one exits 2
with exactly one line on stderr, no traceback, and the database dump byte-identical.

The corpus is generated from one valid full-account export (and one single-chat export) by
mutations. Most cases run in-process through typer's CliRunner; a few run `main.py` in a
subprocess, and a few go through the spawned reader process that large files use."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from settings import Settings
from storage import Database
from telegram_export import ExportFormatError, import_export, read_ahead

ROOT = Path(__file__).resolve().parents[2]
OWNER = 42
BIG = 2**64 + 5


def _message(message_id: int, sender: int, text: Any = "hello there") -> dict[str, Any]:
    return {"id": message_id, "type": "message", "date": "2024-01-01T10:00:00",
            "date_unixtime": str(1_704_103_200 + message_id * 60), "from": f"User {sender}",
            "from_id": f"user{sender}", "text": text, "text_entities": [{"type": "plain", "text": text}]}


def _base() -> dict[str, Any]:
    return {
        "about": "corpus base",
        "personal_information": {"user_id": OWNER, "first_name": "Ann", "last_name": "Lee", "username": "@ann"},
        "chats": {"about": "", "list": [
            {"name": "Bob", "type": "personal_chat", "id": 7,
             "messages": [_message(1, 7), _message(2, OWNER, "hi Bob"), _message(3, 7, "how are you")]},
            {"name": "Team", "type": "private_supergroup", "id": 900,
             "messages": [_message(10, 8), _message(11, OWNER, "see you")]},
        ]},
    }


def _single() -> dict[str, Any]:
    return {"name": "Bob", "type": "personal_chat", "id": 7, "messages": [_message(5, 7), _message(6, OWNER)]}


Mutation = Callable[[], "str | bytes"]


def _full(edit: Callable[[dict[str, Any]], Any]) -> Mutation:
    def build() -> str:
        data = _base()
        edit(data)
        return json.dumps(data, ensure_ascii=False)
    return build


def _first_message(**changes: Any) -> Mutation:
    def edit(data: dict[str, Any]) -> None:
        data["chats"]["list"][0]["messages"][0].update(changes)
    return _full(edit)


def _drop_from_first_message(*keys: str) -> Mutation:
    def edit(data: dict[str, Any]) -> None:
        for key in keys:
            data["chats"]["list"][0]["messages"][0].pop(key)
    return _full(edit)


def _raw_date(token: str) -> Mutation:
    """`date_unixtime` as a bare JSON token json.dumps would never write (Infinity, NaN, 1e400)."""
    def build() -> str:
        text = json.dumps(_base())
        marker = '"date_unixtime": "1704103260"'
        assert marker in text
        return text.replace(marker, f'"date_unixtime": {token}', 1)
    return build


def _raw_text(old: str, new: str) -> Mutation:
    def build() -> str:
        text = json.dumps(_base(), ensure_ascii=False)
        assert old in text
        return text.replace(old, new, 1)
    return build


def _set(path: tuple[Any, ...], value: Any) -> Mutation:
    def edit(data: dict[str, Any]) -> None:
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return _full(edit)


def _valid_text() -> str:
    return json.dumps(_base(), ensure_ascii=False, indent=1)


def _cut_inside_a_character() -> bytes:
    data = _valid_text().replace("how are you", "как дела").encode("utf-8")
    return data[: data.index("как".encode()) + 1]  # the first of "к"'s two bytes


def _second_owner() -> str:
    """A repeated `personal_information` key after the chats, naming someone else."""
    text = json.dumps(_base(), ensure_ascii=False)
    assert text.endswith("}")
    return text[:-1] + ', "personal_information": {"user_id": 43, "first_name": "Eve"}}'


def _sticker(emoji: Any) -> Mutation:
    return _first_message(media_type="sticker", file="(File not included)", sticker_emoji=emoji, text="")


# case → (how the file is built, extra CLI arguments)
CORPUS: dict[str, tuple[Mutation, tuple[str, ...]]] = {
    "empty file": (lambda: "", ()),
    "only whitespace": (lambda: " \n\t\n", ()),
    "not json": (lambda: "this is not json", ()),
    "truncated at half": (lambda: _valid_text()[: len(_valid_text()) // 2], ()),
    "truncated before the last brace": (lambda: _valid_text().rstrip()[:-1], ()),
    "truncated inside a string": (lambda: _valid_text()[: _valid_text().index("how are") + 3], ()),
    "not utf-8 (latin-1)": (lambda: _valid_text().replace("hello", "h\u00e9llo").encode("latin-1"), ()),
    "utf-16": (lambda: _valid_text().encode("utf-16"), ()),
    "binary garbage": (lambda: bytes(range(256)) * 4, ()),
    "top level list": (lambda: json.dumps([_base()]), ()),
    "top level string": (lambda: json.dumps("export"), ()),
    "top level null": (lambda: "null", ()),
    "no chats or messages": (lambda: json.dumps({"about": "x", "personal_information": {"user_id": OWNER}}), ()),
    "trailing data": (lambda: _valid_text() + "\n{}", ()),
    "chats is a list": (_set(("chats",), []), ()),
    "chats.list is an object": (_set(("chats", "list"), {"a": 1}), ()),
    "a chat is a string": (_set(("chats", "list", 0), "Bob"), ()),
    "messages is an object": (_set(("chats", "list", 0, "messages"), {"id": 1}), ()),
    "a message is a string": (_set(("chats", "list", 0, "messages", 0), "hello"), ()),
    "a message is null": (_set(("chats", "list", 0, "messages", 0), None), ()),
    "message id missing": (_drop_from_first_message("id"), ()),
    "message id a string": (_first_message(id="1"), ()),
    "message id a float": (_first_message(id=1.5), ()),
    "message id beyond 64 bits": (_first_message(id=BIG), ()),
    "message id below -2^63": (_first_message(id=-BIG), ()),
    "no date at all": (_drop_from_first_message("date", "date_unixtime"), ()),
    "date_unixtime 'Infinity' string": (_first_message(date_unixtime="Infinity"), ()),
    "date_unixtime Infinity token": (_raw_date("Infinity"), ()),
    "date_unixtime -Infinity token": (_raw_date("-Infinity"), ()),
    "date_unixtime NaN token": (_raw_date("NaN"), ()),
    "date_unixtime 1e400": (_raw_date("1e400"), ()),
    "date_unixtime beyond 64 bits": (_first_message(date_unixtime=str(2**70)), ()),
    "date_unixtime negative": (_first_message(date_unixtime="-5"), ()),
    "date_unixtime a list": (_first_message(date_unixtime=[1]), ()),
    "iso date garbage without unixtime": (_full(lambda d: d["chats"]["list"][0]["messages"][0].update(
        date="yesterday") or d["chats"]["list"][0]["messages"][0].pop("date_unixtime")), ()),
    "edited_unixtime not a number": (_first_message(edited_unixtime="later"), ()),
    "edited_unixtime 1e400 string": (_first_message(edited_unixtime="1e400"), ()),
    "text is a number": (_first_message(text=5), ()),
    "text is an object": (_first_message(text={"a": "b"}), ()),
    "text list holds a number": (_first_message(text=["a", 5]), ()),
    "text absent, text_entities a number": (_full(lambda d: d["chats"]["list"][0]["messages"][0].update(
        text_entities=7) or d["chats"]["list"][0]["messages"][0].pop("text")), ()),
    "lone surrogate in text": (_raw_text('"text": "how are you"', '"text": "how \\ud800 are you"'), ()),
    "lone surrogate in sender name": (_raw_text('"from": "User 8"', '"from": "User \\udfff"'), ()),
    "lone surrogate in chat name": (_raw_text('"name": "Team"', '"name": "Te\\ud800am"'), ()),
    "lone surrogate in owner name": (_raw_text('"first_name": "Ann"', '"first_name": "A\\ud800nn"'), ()),
    "sender id beyond 64 bits": (_first_message(from_id="user" + "9" * 30), ()),
    "sender id a list": (_first_message(from_id=["user7"]), ()),
    "reply_to beyond 64 bits": (_first_message(reply_to_message_id=BIG), ()),
    "chat id beyond 64 bits": (_set(("chats", "list", 0, "id"), BIG), ()),
    "supergroup id overflowing once converted": (_set(("chats", "list", 1, "id"), 2**63 - 10), ()),
    "chat id a string": (_set(("chats", "list", 0, "id"), "7"), ()),
    "chat type a number": (_set(("chats", "list", 0, "type"), 3), ()),
    "owner id beyond 64 bits": (_set(("personal_information", "user_id"), BIG), ()),
    "owner id a string": (_set(("personal_information", "user_id"), "42"), ()),
    "personal_information a list": (_set(("personal_information",), [OWNER]), ()),
    "owner first_name a number": (_set(("personal_information", "first_name"), 5), ()),
    "owner username an object": (_set(("personal_information", "username"), {"u": 1}), ()),
    "--owner-id beyond 64 bits": (lambda: json.dumps(_single()), ("--owner-id", str(BIG))),
    "--owner-id of someone else": (lambda: json.dumps(_single()), ("--owner-id", "7")),
    "messages before the chat id": (lambda: json.dumps(
        {"messages": [_message(1, 7)], "name": "B", "type": "personal_chat", "id": 7}), ()),
    "cut inside a UTF-8 character": (_cut_inside_a_character, ()),
    "date_unixtime true": (_first_message(date_unixtime=True), ()),
    "edited_unixtime false": (_first_message(edited_unixtime=False), ()),
    "sticker_emoji a list": (_sticker(["🙂"]), ()),
    "sticker_emoji an object": (_sticker({"emoji": "🙂"}), ()),
    "sticker_emoji a number": (_sticker(7), ()),
    "two personal_information blocks, two owners": (_second_owner, ()),
    "a bad date in the second chat, its message id also in the first": (_full(
        lambda d: d["chats"]["list"][1]["messages"][0].update(id=1, date_unixtime="soon")), ()),
    "deep nesting in a message": (_raw_text('"text": "how are you"', '"text": ' + "[" * 100_000 + "]" * 100_000), ()),
}


def _sqlite_dump(db_path: Path) -> str:
    conn = sqlite3.connect(db_path)
    try:
        return "\n".join(conn.iterdump())
    finally:
        conn.close()


def _seed(settings: Settings) -> str:
    """A database that already holds the valid base export (so `rows went in` would show)."""
    base = settings.data_dir / "base.json"
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    base.write_text(json.dumps(_base()), encoding="utf-8")

    async def run() -> None:
        async with Database.open(settings.db_path) as db:
            await import_export(db, base)

    asyncio.run(run())
    return _sqlite_dump(settings.db_path)


def _write_case(tmp_path: Path, case: str) -> tuple[Path, tuple[str, ...]]:
    build, extra = CORPUS[case]
    content = build()
    path = tmp_path / "result.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", errors="surrogatepass")
    return path, extra


def _assert_one_clean_line(code: int, stderr: str) -> None:
    assert code == 2, stderr
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr


def _invoke(settings: Settings, *args: str) -> tuple[int, str]:
    from main import app

    result = CliRunner().invoke(app, ["--data-dir", str(settings.data_dir), "import-export", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, result.stderr


def test_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 40


@pytest.mark.parametrize("case", list(CORPUS))
def test_malformed_export_exits_2_with_one_line(case: str, settings: Settings, tmp_path: Path) -> None:
    before = _seed(settings)
    path, extra = _write_case(tmp_path, case)
    _assert_one_clean_line(*_invoke(settings, str(path), *extra))
    assert _sqlite_dump(settings.db_path) == before


@pytest.mark.parametrize(("case", "needle"), [
    ("cut inside a UTF-8 character", "truncated JSON: the file ends early (inside a UTF-8 character)"),
    ("not utf-8 (latin-1)", "not UTF-8"),
    ("date_unixtime true", "message 1 has an unreadable date"),
    ("edited_unixtime false", "message 1 has an unreadable date"),
    ("sticker_emoji a list", "message 1 has a sticker_emoji that is not a string"),
    ("sticker_emoji a number", "message 1 has a sticker_emoji that is not a string"),
    ("two personal_information blocks, two owners",
     "two personal_information blocks name different owners (42 and 43)"),
    ("a bad date in the second chat, its message id also in the first",
     "in chat 900 'Team': message 1 has an unreadable date"),
    ("message id a string", "in chat 7 'Bob': a message has no integer id"),
])
def test_the_error_line_says_what_is_wrong_and_where(case: str, needle: str, settings: Settings,
                                                     tmp_path: Path) -> None:
    before = _seed(settings)
    path, extra = _write_case(tmp_path, case)
    code, stderr = _invoke(settings, str(path), *extra)
    _assert_one_clean_line(code, stderr)
    assert needle in stderr
    assert _sqlite_dump(settings.db_path) == before


async def test_a_second_owner_never_switches_a_fresh_database(db: Database, tmp_path: Path) -> None:
    """No owner stored yet: the first block's chats must not be filed under the second's owner."""
    path = tmp_path / "result.json"
    path.write_text(_second_owner(), encoding="utf-8")
    before = await db.dump()
    with pytest.raises(ExportFormatError, match=r"two personal_information blocks name different owners \(42 and 43\)"):
        await import_export(db, path)
    assert await db.dump() == before


def _special(tmp_path: Path, kind: str) -> Path:
    """A path that is not a regular file."""
    target = tmp_path / kind.replace(" ", "-")
    if kind == "a directory":
        target.mkdir()
    elif kind == "a FIFO":
        os.mkfifo(target)  # opening it would wait for a writer forever
    elif kind == "a symlink loop":
        target.symlink_to(tmp_path / "other")
        (tmp_path / "other").symlink_to(target)
    elif kind == "a broken symlink":
        target.symlink_to(tmp_path / "gone.json")
    elif kind == "a character device":
        if not Path("/dev/zero").exists():
            pytest.skip("no /dev/zero on this system")
        return Path("/dev/zero")  # read, it would never end
    return target


@pytest.mark.parametrize(("kind", "needle"), [
    ("no file", "no such file"),
    ("a directory", "is a directory, not an export file"),
    ("a character device", "not a regular file: it is a character device"),
    ("a FIFO", "not a regular file: it is a FIFO (named pipe)"),
    ("a symlink loop", "a symlink loop"),
    ("a broken symlink", "a broken symlink"),
])
def test_a_path_that_is_no_regular_file_is_named_for_what_it_is(
    kind: str, needle: str, settings: Settings, tmp_path: Path,
) -> None:
    before = _seed(settings)
    target = _special(tmp_path, kind)
    code, stderr = _invoke(settings, str(target))
    _assert_one_clean_line(code, stderr)
    assert f"error: {target}: {needle}" in stderr
    assert _sqlite_dump(settings.db_path) == before


@pytest.mark.parametrize("case", ["truncated before the last brace", "date_unixtime 1e400",
                                  "lone surrogate in text", "message id beyond 64 bits",
                                  "cut inside a UTF-8 character"])
def test_malformed_large_file_in_the_reader_process(
    case: str, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Large files are read by a spawned process: its failures are the same one line."""
    monkeypatch.setattr(read_ahead, "PROCESS_THRESHOLD_BYTES", 0)
    before = _seed(settings)
    path, extra = _write_case(tmp_path, case)
    _assert_one_clean_line(*_invoke(settings, str(path), *extra))
    assert _sqlite_dump(settings.db_path) == before


@pytest.mark.parametrize("case", ["date_unixtime Infinity token", "lone surrogate in owner name", "utf-16"])
def test_malformed_export_through_main_py(case: str, settings: Settings, tmp_path: Path) -> None:
    before = _seed(settings)
    path, extra = _write_case(tmp_path, case)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TGTWIN_")}
    done = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "--data-dir", str(settings.data_dir), "import-export", str(path),
         *extra],
        check=False, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )
    _assert_one_clean_line(done.returncode, done.stderr)
    assert _sqlite_dump(settings.db_path) == before


def _reader_killed_mid_message(
    conn: Any, path: Path, owner_hint: int | None, stored_owner: int | None, allowed: tuple[int, ...]
) -> None:
    """Stands in for the reader process: one good chunk, then killed half-way through the next
    message (a 4-byte length that promises more than is written, as Connection frames them)."""
    conn.send(("rows", 1, [(7, 99, 7, "Bob", 0, 1_704_103_260, "hi", None, None, 0, None, 0, "export")]))
    os.write(conn.fileno(), struct.pack("!i", 1000) + b"x" * 10)
    os.kill(os.getpid(), signal.SIGKILL)


async def test_reader_process_that_dies_is_one_clear_error(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The reader process killed mid-import (OOM killer, kill -9): a clear error, no hang, nothing kept."""
    monkeypatch.setattr(read_ahead, "PROCESS_THRESHOLD_BYTES", 0)
    monkeypatch.setattr(read_ahead, "_send_items", _reader_killed_mid_message)
    path = tmp_path / "result.json"
    path.write_text(json.dumps(_base()), encoding="utf-8")
    before = await db.dump()
    seen: list[int] = []
    with pytest.raises(ExportFormatError, match="reader process stopped unexpectedly") as caught:
        await asyncio.wait_for(import_export(db, path, progress=seen.append), timeout=60)
    assert seen == [1]  # the first chunk went in before the death, and was rolled back
    assert "\n" not in str(caught.value) and "-9" in str(caught.value)
    assert await db.dump() == before
