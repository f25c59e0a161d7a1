"""Reads and writes for preference pairs: the drafts that may form one, the messages around a draft,
and which pairs (one per draft) a training run has learned from.

Pairs are not stored: they are rebuilt from drafts and messages by `training.data.preference_pairs`
(one rule, shared by training and the status count). Only their use by runs is recorded here.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence

from storage.db import Database, now
from storage.messages import _message
from storage.replies import Draft, _draft
from storage.rows import MessageRow

DAY_SECONDS = 86_400
_OLDEST = -(2**63)
_IDS_PER_QUERY = 500  # SQLite builds before 3.32 allow 999 parameters per statement


async def drafts_for_pairs(db: Database) -> list[Draft]:
    """Every draft that may form a preference pair, oldest first: sent ones (the owner may have
    edited them), discarded ones, and pending ones (the owner may have answered without closing the
    draft). Which of them really are pairs is the builder's decision."""
    rows = await db.fetchall("SELECT * FROM drafts ORDER BY created_at, id")
    return [_draft(r) for r in rows]


async def window_start(db: Database, chat_id: int, at: int, context_rows: int) -> int | None:
    """Where the window of a draft made at `at` begins (`messages_around`): the date of the
    `context_rows`-th live message at or before `at`; None when there are fewer (the chat's start)."""
    return await db.scalar(
        """SELECT date FROM messages WHERE chat_id = ? AND deleted = 0 AND date <= ?
           ORDER BY date DESC, message_id DESC LIMIT 1 OFFSET ?""",
        (chat_id, at, context_rows - 1),
    )


async def live_messages_dated(db: Database, chat_id: int, since: int | None, until: int) -> list[MessageRow]:
    """A chat's live messages dated `since` (None: the chat's start) to `until`, oldest first: one read
    for the windows of many drafts, from the first one's `window_start` to the last one's end."""
    rows = await db.fetchall(
        """SELECT * FROM messages WHERE chat_id = ? AND deleted = 0 AND date >= ? AND date <= ?
           ORDER BY date, message_id""",
        (chat_id, _OLDEST if since is None else since, until),
    )
    return [_message(r) for r in rows]


def messages_around(messages: Sequence[MessageRow], at: int, context_rows: int, after_seconds: int) -> list[MessageRow]:
    """The window of a draft made at `at`, oldest first: the last `context_rows` messages up to `at`
    (enough to rebuild the context it answered) and every one in (`at`, `at + after_seconds`] (where
    the owner's own answer would be). `messages`: a chat's live messages, oldest first, covering it."""
    up_to = bisect.bisect_right(messages, at, key=_date)
    through = bisect.bisect_right(messages, at + after_seconds, key=_date)
    return list(messages[max(0, up_to - context_rows):through])


def _date(message: MessageRow) -> int:
    return message.date


async def day_fingerprints(db: Database, since_days: dict[int, int | None]) -> dict[int, dict[int, tuple[int, ...]]]:
    """For each chat of `since_days`, per UTC day (`date // DAY_SECONDS`) of its messages from that
    day on (None: all), a fingerprint that moves when a message of that day is stored, edited,
    deleted or restored, or marked as the bot's: the count, the deleted ones, the edited ones and
    the last edit time (every writer sets `edited_at` with a new text), those not written by a
    person. Caches of what is derived from messages (the preference pair count) compare them to
    find the days that changed; two changes on one day that cancel out in every figure go
    unnoticed. One read for all chats."""
    found: dict[int, dict[int, tuple[int, ...]]] = {chat_id: {} for chat_id in since_days}
    known = [d for d in since_days.values() if d is not None]
    since = None if len(known) < len(since_days) or not known else min(known)
    ids = sorted(since_days)
    for start in range(0, len(ids), _IDS_PER_QUERY):
        part = ids[start:start + _IDS_PER_QUERY]
        rows = await db.fetchall(
            f"""SELECT chat_id, date / {DAY_SECONDS} AS day, COUNT(*), SUM(deleted), COUNT(edited_at),
                      COALESCE(MAX(edited_at), 0), SUM(authored_by != 'human')
               FROM messages WHERE chat_id IN ({', '.join('?' * len(part))}) AND date >= ?
               GROUP BY chat_id, day""",
            (*part, _OLDEST if since is None else since * DAY_SECONDS),
        )
        for r in rows:
            chat_id, day = int(r[0]), int(r[1])
            first = since_days[chat_id]
            if first is None or day >= first:
                found[chat_id][day] = tuple(int(v) for v in tuple(r)[2:])
    return found


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
