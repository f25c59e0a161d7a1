"""Messages and per-chat harvest state."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass

from storage.db import Database, now
from storage.rows import Authorship, MessageRow

_COLUMNS = (
    "chat_id, message_id, sender_id, sender_name, outgoing, date, text, media, reply_to, "
    "forwarded, edited_at, deleted, source"
)
_INSERT_ROW = f"INSERT INTO messages ({_COLUMNS}) VALUES ({', '.join('?' * 13)})"
INSERT_IGNORE_SQL = f"{_INSERT_ROW} ON CONFLICT DO NOTHING"
"""One row at a time (the import bench's raw baseline); the writers below go through `_write_staged`."""
_UPDATE_ON_CONFLICT = (
    "ON CONFLICT (chat_id, message_id) DO UPDATE SET text = excluded.text, media = excluded.media, "
    "edited_at = excluded.edited_at, sender_name = COALESCE(excluded.sender_name, messages.sender_name), "
    "deleted = 0, source = excluded.source"
)
_STAGED = "staged_messages"


async def _write_staged(db: Database, params: Sequence[tuple[object, ...]], on_conflict: str) -> int:
    """Write rows into `messages` with one statement: staged in a temporary table first, then
    `INSERT … SELECT`. The memory index's triggers (migration 0007) then fire inside one statement,
    and FTS5 writes its pending index once per statement (it flushes at every statement's
    savepoint): row by row, indexing cost the import 3-4 times its time, staged about 1.5 times.
    Returns the rows the statement changed (triggers' rows not counted)."""
    if not params:
        return 0
    if len(params) == 1:  # one row is one statement already (live sync): no staging round trips
        cur = await db.execute(f"{_INSERT_ROW} {on_conflict}", params[0])
        return max(cur.rowcount, 0)
    async with db.atomic():
        await db.execute(f"CREATE TEMP TABLE IF NOT EXISTS {_STAGED} AS SELECT {_COLUMNS} FROM messages WHERE 0")
        await db.executemany(f"INSERT INTO temp.{_STAGED} VALUES ({', '.join('?' * 13)})", params)
        # `WHERE true`: an upsert's SELECT needs a WHERE, or ON CONFLICT would parse as a join clause.
        cur = await db.execute(
            f"INSERT INTO messages ({_COLUMNS}) SELECT {_COLUMNS} FROM temp.{_STAGED} WHERE true {on_conflict}")
        await db.execute(f"DELETE FROM temp.{_STAGED}")
        return max(cur.rowcount, 0)


def _message(row: sqlite3.Row) -> MessageRow:
    return MessageRow(
        chat_id=row["chat_id"], message_id=row["message_id"], sender_id=row["sender_id"],
        sender_name=row["sender_name"], outgoing=bool(row["outgoing"]), date=row["date"],
        text=row["text"], media=row["media"], reply_to=row["reply_to"],
        forwarded=bool(row["forwarded"]), edited_at=row["edited_at"], deleted=bool(row["deleted"]),
        authored_by=row["authored_by"],
    )


async def insert_messages(db: Database, rows: Sequence[MessageRow], source: str) -> int:
    """Insert new messages, leaving existing ones untouched (idempotent import). Returns rows added."""
    return await _write_staged(db, [r.as_params(source) for r in rows], "ON CONFLICT DO NOTHING")


async def insert_message_params(db: Database, params: Sequence[tuple[object, ...]]) -> int:
    """`insert_messages` for rows already in `MessageRow.as_params` form: the export importer's bulk
    path, whose rows are built in a reader thread or process. Returns rows added."""
    return await _write_staged(db, params, "ON CONFLICT DO NOTHING")


async def upsert_messages(db: Database, rows: Iterable[MessageRow], source: str = "telegram") -> None:
    """Insert or update (live sync, edits, harvest of already-imported history)."""
    await _write_staged(db, [r.as_params(source) for r in rows], _UPDATE_ON_CONFLICT)


async def mark_deleted(db: Database, chat_id: int | None, message_ids: Sequence[int]) -> int:
    """Mark messages deleted (kept for the log, excluded from training). chat_id None = any chat
    (Telegram reports private-chat deletions without the chat)."""
    if not message_ids:
        return 0
    marks = ", ".join("?" * len(message_ids))
    if chat_id is None:
        cur = await db.execute(f"UPDATE messages SET deleted = 1 WHERE message_id IN ({marks}) AND chat_id > 0",
                               tuple(message_ids))
    else:
        cur = await db.execute(
            f"UPDATE messages SET deleted = 1 WHERE chat_id = ? AND message_id IN ({marks})",
            (chat_id, *message_ids),
        )
    return cur.rowcount


async def mark_authored(db: Database, chat_id: int, message_ids: Sequence[int], authored_by: Authorship) -> int:
    """Record who wrote outgoing messages (the bot, or the owner sending a draft unchanged).
    Rewriting a message (live sync of an edit) keeps this mark."""
    if not message_ids:
        return 0
    marks = ", ".join("?" * len(message_ids))
    cur = await db.execute(
        f"UPDATE messages SET authored_by = ? WHERE chat_id = ? AND message_id IN ({marks})",
        (authored_by, chat_id, *message_ids),
    )
    return cur.rowcount


async def newest_message_id(db: Database, chat_id: int) -> int | None:
    """The highest stored message id of a chat (deleted ones included: they were seen)."""
    value = await db.scalar("SELECT MAX(message_id) FROM messages WHERE chat_id = ?", (chat_id,))
    return None if value is None else int(value)


async def catch_up_chat_ids(db: Database, limit: int) -> list[int]:
    """Chats worth re-reading after downtime: whitelisted ones first, then harvested private
    chats, most recently active first."""
    rows = await db.fetchall(
        """SELECT c.id FROM chats c LEFT JOIN sync_state s ON s.chat_id = c.id
           WHERE c.reply_mode != 'off' OR (c.type = 'private' AND s.chat_id IS NOT NULL)
           ORDER BY c.reply_mode != 'off' DESC, c.updated_at DESC, c.id LIMIT ?""",
        (limit,),
    )
    return [r["id"] for r in rows]


async def get_message(db: Database, chat_id: int, message_id: int) -> MessageRow | None:
    row = await db.fetchone("SELECT * FROM messages WHERE chat_id = ? AND message_id = ?", (chat_id, message_id))
    return None if row is None else _message(row)


async def live_messages_between(db: Database, chat_id: int, low_id: int, high_id: int) -> list[MessageRow]:
    """A chat's stored, not deleted messages with ids in [low_id, high_id], by id (the window the
    catch-up compares with the server's history)."""
    rows = await db.fetchall(
        """SELECT * FROM messages WHERE chat_id = ? AND deleted = 0 AND message_id BETWEEN ? AND ?
           ORDER BY message_id""",
        (chat_id, low_id, high_id),
    )
    return [_message(r) for r in rows]


async def recent_messages(db: Database, chat_id: int, limit: int, before_date: int | None = None) -> list[MessageRow]:
    """The chat's last `limit` live messages, oldest first."""
    sql = "SELECT * FROM messages WHERE chat_id = ? AND deleted = 0"
    params: list[object] = [chat_id]
    if before_date is not None:
        sql += " AND date <= ?"
        params.append(before_date)
    sql += " ORDER BY date DESC, message_id DESC LIMIT ?"
    params.append(limit)
    rows = await db.fetchall(sql, params)
    return [_message(r) for r in reversed(rows)]


async def iter_chat_messages(db: Database, chat_id: int, batch: int = 5000) -> AsyncIterator[MessageRow]:
    """Every live message of a chat in time order, read in batches (bounded memory)."""
    last_date, last_id = -1, -1
    while True:
        rows = await db.fetchall(
            """SELECT * FROM messages WHERE chat_id = ? AND deleted = 0 AND (date, message_id) > (?, ?)
               ORDER BY date, message_id LIMIT ?""",
            (chat_id, last_date, last_id, batch),
        )
        if not rows:
            return
        for r in rows:
            yield _message(r)
        last_date, last_id = rows[-1]["date"], rows[-1]["message_id"]


@dataclass(slots=True)
class Counts:
    chats: int
    messages: int
    owner_messages: int


async def counts(db: Database) -> Counts:
    row = await db.fetchone(
        """SELECT (SELECT COUNT(*) FROM chats) AS chats,
                  COUNT(*) AS messages, COALESCE(SUM(outgoing), 0) AS owner_messages
           FROM messages WHERE deleted = 0"""
    )
    assert row is not None
    return Counts(row["chats"], row["messages"], row["owner_messages"])


async def chat_message_counts(db: Database) -> dict[int, tuple[int, int]]:
    """chat_id → (messages, owner messages)."""
    rows = await db.fetchall(
        "SELECT chat_id, COUNT(*) AS n, SUM(outgoing) AS own FROM messages WHERE deleted = 0 GROUP BY chat_id"
    )
    return {r["chat_id"]: (r["n"], r["own"] or 0) for r in rows}


async def chat_message_count(db: Database, chat_id: int) -> tuple[int, int]:
    """One chat's (messages, owner messages), read from that chat's rows only."""
    row = await db.fetchone(
        "SELECT COUNT(*) AS n, SUM(outgoing) AS own FROM messages WHERE chat_id = ? AND deleted = 0", (chat_id,)
    )
    return (row["n"], row["own"] or 0) if row is not None else (0, 0)


@dataclass(slots=True)
class SyncState:
    chat_id: int
    oldest_id: int | None
    newest_id: int | None
    complete: bool


async def get_sync_state(db: Database, chat_id: int) -> SyncState | None:
    row = await db.fetchone("SELECT * FROM sync_state WHERE chat_id = ?", (chat_id,))
    if row is None:
        return None
    return SyncState(row["chat_id"], row["oldest_id"], row["newest_id"], bool(row["complete"]))


async def save_sync_state(db: Database, state: SyncState) -> None:
    await db.execute(
        """INSERT INTO sync_state (chat_id, oldest_id, newest_id, complete, updated_at) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (chat_id) DO UPDATE SET oldest_id = excluded.oldest_id, newest_id = excluded.newest_id,
               complete = excluded.complete, updated_at = excluded.updated_at""",
        (state.chat_id, state.oldest_id, state.newest_id, int(state.complete), now()),
    )
