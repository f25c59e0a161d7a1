"""Reads and writes for preference pairs: the drafts that may form one, the messages around a draft,
and which pairs (one per draft) a training run has learned from.

Pairs are not stored: they are rebuilt from drafts and messages by `training.preference_pairs`
(one rule, shared by training and the status count). Only their use by runs is recorded here.
"""

from __future__ import annotations

from collections.abc import Iterable

from storage.db import Database, now
from storage.messages import _message
from storage.replies import Draft, _draft
from storage.rows import MessageRow


async def drafts_for_pairs(db: Database) -> list[Draft]:
    """Every draft that may form a preference pair, oldest first: sent ones (the owner may have
    edited them), discarded ones, and pending ones (the owner may have answered without closing the
    draft). Which of them really are pairs is the builder's decision."""
    rows = await db.fetchall("SELECT * FROM drafts ORDER BY created_at, id")
    return [_draft(r) for r in rows]


async def messages_around(
    db: Database, chat_id: int, at: int, context_rows: int, after_seconds: int
) -> list[MessageRow]:
    """A chat's live messages around time `at`, oldest first: the last `context_rows` up to `at`
    (enough to rebuild the context a draft answered) and every one in (`at`, `at + after_seconds`]
    (where the owner's own answer would be)."""
    before = await db.fetchall(
        """SELECT * FROM messages WHERE chat_id = ? AND deleted = 0 AND date <= ?
           ORDER BY date DESC, message_id DESC LIMIT ?""",
        (chat_id, at, context_rows),
    )
    after = await db.fetchall(
        """SELECT * FROM messages WHERE chat_id = ? AND deleted = 0 AND date > ? AND date <= ?
           ORDER BY date, message_id""",
        (chat_id, at, at + after_seconds),
    )
    return [_message(r) for r in reversed(before)] + [_message(r) for r in after]


async def pair_inputs_version(db: Database) -> tuple[int, ...]:
    """A cheap fingerprint of what preference pairs are rebuilt from: it changes when a draft is made
    or closed, a message is stored, a chat is added or opted in or out of training, or a run marks
    pairs used. An edit or deletion of a stored message (and two changes that cancel out) leave it
    as it was, so a cache keyed on it must also bound its age."""
    row = await db.fetchone(
        """SELECT (SELECT COUNT(*) FROM drafts), (SELECT COUNT(*) FROM drafts WHERE status = 'pending'),
                  (SELECT COALESCE(MAX(updated_at), 0) FROM drafts), (SELECT COUNT(*) FROM messages),
                  (SELECT COUNT(*) FROM chats WHERE train = 0), (SELECT COUNT(*) FROM chats WHERE train = 1),
                  (SELECT COUNT(*) FROM chats), (SELECT COUNT(*) FROM preference_pair_uses)"""
    )
    return tuple(int(v) for v in row) if row is not None else ()


async def used_draft_ids(db: Database) -> set[int]:
    """Drafts whose preference pair some training run has already learned from."""
    return {int(r["draft_id"]) for r in await db.fetchall("SELECT draft_id FROM preference_pair_uses")}


async def mark_pairs_used(db: Database, draft_ids: Iterable[int], run_id: int) -> int:
    """Record that run `run_id` learned from these drafts' pairs (a later run keeps the first mark).
    One transaction; returns how many pairs were newly marked."""
    ts = now()
    async with db.atomic():
        return await db.executemany(
            "INSERT OR IGNORE INTO preference_pair_uses (draft_id, run_id, used_at) VALUES (?, ?, ?)",
            [(draft_id, run_id, ts) for draft_id in sorted(set(draft_ids))],
        )
