"""The reply log (every auto-reply decision with its reason) and drafts."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from storage.db import Database, now
from storage.errors import InvalidValue, NotFound

Decision = Literal["answered", "drafted", "skipped", "error"]
DraftStatus = Literal["pending", "sent", "discarded"]


@dataclass(slots=True)
class ReplyLogEntry:
    id: int
    chat_id: int
    message_id: int | None
    decision: Decision
    reason: str
    sent_message_ids: list[int]
    created_at: int
    memory_message_ids: list[int] | None = None
    """The chat's messages memory recalled for the reply (ids, never texts); None where no reply
    was generated."""


@dataclass(slots=True)
class Draft:
    id: int
    chat_id: int
    trigger_message_id: int | None
    text: str
    sent_text: str | None
    status: DraftStatus
    created_at: int
    updated_at: int
    memory_message_ids: list[int] | None = None
    """The chat's messages memory recalled for the suggestion; None for drafts from before memory."""


def _id_list(ids: Sequence[int] | None) -> str | None:
    return None if ids is None else json.dumps([int(i) for i in ids])


def _read_id_list(value: str | None) -> list[int] | None:
    return None if value is None else json.loads(value)


async def log_decision(
    db: Database,
    chat_id: int,
    message_id: int | None,
    decision: Decision,
    reason: str,
    sent_message_ids: list[int] | None = None,
    memory_message_ids: Sequence[int] | None = None,
) -> int:
    """A reply-log row, unconditionally (the panel's act on a message, e.g. a draft it sent); the
    pipeline's one decision per message goes through `log_first_decision`."""
    cur = await db.execute(
        """INSERT INTO reply_log (chat_id, message_id, decision, reason, sent_message_ids, created_at,
                                  memory_message_ids)
           VALUES (?, ?, ?, ?, ?, ?, ?)""",
        (chat_id, message_id, decision, reason, json.dumps(sent_message_ids or []), now(),
         _id_list(memory_message_ids)),
    )
    return int(cur.lastrowid or 0)


async def log_first_decision(
    db: Database,
    chat_id: int,
    message_id: int,
    decision: Decision,
    reason: str,
    sent_message_ids: list[int] | None = None,
    memory_message_ids: Sequence[int] | None = None,
) -> bool:
    """The pipeline's decision on an incoming message, unless the message already has one: Telegram
    re-delivers updates after a crash, and each message is decided once. One statement, so the
    check and the insert cannot be split. Returns whether the row was written."""
    cur = await db.execute(
        """INSERT INTO reply_log (chat_id, message_id, decision, reason, sent_message_ids, created_at,
                                  memory_message_ids)
           SELECT ?, ?, ?, ?, ?, ?, ?
           WHERE NOT EXISTS (SELECT 1 FROM reply_log WHERE chat_id = ? AND message_id = ?)""",
        (chat_id, message_id, decision, reason, json.dumps(sent_message_ids or []), now(),
         _id_list(memory_message_ids), chat_id, message_id),
    )
    return cur.rowcount == 1


async def is_decided(db: Database, chat_id: int, message_id: int) -> bool:
    """Whether the reply log already holds a decision on this message."""
    row = await db.fetchone("SELECT 1 FROM reply_log WHERE chat_id = ? AND message_id = ? LIMIT 1",
                            (chat_id, message_id))
    return row is not None


def _entry(r: sqlite3.Row) -> ReplyLogEntry:
    return ReplyLogEntry(
        r["id"], r["chat_id"], r["message_id"], r["decision"], r["reason"],
        json.loads(r["sent_message_ids"] or "[]"), r["created_at"], _read_id_list(r["memory_message_ids"]),
    )


async def list_decisions(
    db: Database, chat_id: int | None = None, limit: int = 200, since: int | None = None
) -> list[ReplyLogEntry]:
    """Newest first."""
    sql, params = "SELECT * FROM reply_log WHERE 1", []
    if chat_id is not None:
        sql += " AND chat_id = ?"
        params.append(chat_id)
    if since is not None:
        sql += " AND created_at >= ?"
        params.append(since)
    sql += " ORDER BY id DESC LIMIT ?"
    params.append(limit)
    return [_entry(r) for r in await db.fetchall(sql, params)]


async def decision_counts(db: Database, chat_id: int) -> dict[Decision, int]:
    """How often each decision was logged in one chat."""
    rows = await db.fetchall(
        "SELECT decision, COUNT(*) AS n FROM reply_log WHERE chat_id = ? GROUP BY decision", (chat_id,)
    )
    return {r["decision"]: r["n"] for r in rows}


def _draft(r: sqlite3.Row) -> Draft:
    return Draft(
        r["id"], r["chat_id"], r["trigger_message_id"], r["text"], r["sent_text"], r["status"],
        r["created_at"], r["updated_at"], _read_id_list(r["memory_message_ids"]),
    )


async def create_draft(db: Database, chat_id: int, text: str, trigger_message_id: int | None = None,
                       memory_message_ids: Sequence[int] | None = None) -> Draft:
    """A pending draft; `memory_message_ids`: what memory recalled for it (ids, never texts)."""
    ts = now()
    cur = await db.execute(
        """INSERT INTO drafts (chat_id, trigger_message_id, text, created_at, updated_at, memory_message_ids)
           VALUES (?, ?, ?, ?, ?, ?)""",
        (chat_id, trigger_message_id, text, ts, ts, _id_list(memory_message_ids)),
    )
    return await get_draft(db, int(cur.lastrowid or 0))


async def get_draft(db: Database, draft_id: int) -> Draft:
    row = await db.fetchone("SELECT * FROM drafts WHERE id = ?", (draft_id,))
    if row is None:
        raise NotFound(f"draft {draft_id} not found")
    return _draft(row)


async def list_drafts(db: Database, status: DraftStatus | None = None, limit: int = 200) -> list[Draft]:
    if status is None:
        rows = await db.fetchall("SELECT * FROM drafts ORDER BY id DESC LIMIT ?", (limit,))
    else:
        rows = await db.fetchall("SELECT * FROM drafts WHERE status = ? ORDER BY id DESC LIMIT ?", (status, limit))
    return [_draft(r) for r in rows]


async def count_drafts(db: Database, status: DraftStatus, chat_id: int | None = None) -> int:
    """Drafts with this status, in every chat or in `chat_id` only."""
    if chat_id is None:
        return int(await db.scalar("SELECT COUNT(*) FROM drafts WHERE status = ?", (status,)) or 0)
    return int(await db.scalar("SELECT COUNT(*) FROM drafts WHERE status = ? AND chat_id = ?", (status, chat_id)) or 0)


async def pending_drafts(db: Database, chat_id: int) -> list[Draft]:
    """A chat's drafts still waiting for the owner, newest first."""
    rows = await db.fetchall(
        "SELECT * FROM drafts WHERE chat_id = ? AND status = 'pending' ORDER BY id DESC", (chat_id,)
    )
    return [_draft(r) for r in rows]


async def close_draft(db: Database, draft_id: int, status: DraftStatus, sent_text: str | None = None) -> Draft:
    """Mark a pending draft sent (keeping the owner's edited text) or discarded."""
    if status not in ("sent", "discarded"):
        raise InvalidValue("a draft is closed as sent or discarded")
    async with db.atomic():
        draft = await get_draft(db, draft_id)
        if draft.status != "pending":
            raise InvalidValue(f"draft {draft_id} is already {draft.status}")
        await db.execute(
            "UPDATE drafts SET status = ?, sent_text = ?, updated_at = ? WHERE id = ?",
            (status, sent_text, now(), draft_id),
        )
        return await get_draft(db, draft_id)


async def revise_sent_text(db: Database, draft_id: int, sent_text: str) -> None:
    """What the owner sent for a draft already closed as sent grew (the answer took several messages)."""
    await db.execute("UPDATE drafts SET sent_text = ?, updated_at = ? WHERE id = ? AND status = 'sent'",
                     (sent_text, now(), draft_id))
