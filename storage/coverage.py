"""What continual training learned: per run, the adapter it continued from and the owner turns it
learned (`training.data.coverage` turns these into coverage; `training.runs.continual` into the next run's data).

A turn is keyed by its chat and its first message id, with a hash of its text as it was trained:
an edited turn no longer matches its record (it counts as not learned), a deleted one is simply no
longer in the data. A run's lineage is the chain of adapters it continued from (`lineage_runs`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from storage.db import Database


@dataclass(frozen=True, slots=True)
class TurnKey:
    """An owner turn as trained: (chat, first message id) and a hash of its text."""

    chat_id: int
    message_id: int
    text_hash: str


@dataclass(frozen=True, slots=True)
class LearnedTurn:
    """One owner turn a run learned; `replay`: its lineage had learned it before."""

    run_id: int
    turn: TurnKey
    replay: bool


@dataclass(frozen=True, slots=True)
class ChainRun:
    """A run that trained an adapter, what it continued from and under which promotion it was planned."""

    run_id: int
    adapter_id: str
    continued_from: str | None
    promotion_id: int | None


async def latest_promotion_id(db: Database) -> int | None:
    """The id of the newest promotion (or rollback) row; None before anything was promoted."""
    value = await db.scalar("SELECT MAX(id) FROM promotions")
    return None if value is None else int(value)


async def record_run(
    db: Database, run_id: int, continued_from: str | None, promotion_id: int | None, learned: Sequence[LearnedTurn]
) -> None:
    """Store what run `run_id` continued from and learned (one transaction; a rerun of the same run
    id replaces its record)."""
    async with db.atomic():
        await db.execute(
            "INSERT OR REPLACE INTO continual_runs (run_id, continued_from, promotion_id) VALUES (?, ?, ?)",
            (run_id, continued_from, promotion_id),
        )
        await db.execute("DELETE FROM learned_turns WHERE run_id = ?", (run_id,))
        await db.executemany(
            "INSERT INTO learned_turns (run_id, chat_id, message_id, text_hash, replay) VALUES (?, ?, ?, ?, ?)",
            [(run_id, t.turn.chat_id, t.turn.message_id, t.turn.text_hash, int(t.replay)) for t in learned],
        )


async def chain_head(db: Database, promotion_id: int | None) -> ChainRun | None:
    """The newest run with an adapter that was planned under promotion `promotion_id` (so nothing was
    promoted or rolled back since it started); None when there is none."""
    row = await db.fetchone(
        """SELECT c.run_id, a.id AS adapter_id, c.continued_from, c.promotion_id
           FROM continual_runs c JOIN adapters a ON a.run_id = c.run_id
           WHERE c.promotion_id IS ? ORDER BY c.run_id DESC LIMIT 1""",
        (promotion_id,),
    )
    if row is None:
        return None
    return ChainRun(row["run_id"], row["adapter_id"], row["continued_from"], row["promotion_id"])


async def lineage_runs(db: Database, adapter_id: str) -> list[int]:
    """The runs whose learning `adapter_id` carries: its own run and, through `continued_from`, the
    runs of the adapters it continued from (newest first)."""
    rows = await db.fetchall(
        """WITH RECURSIVE lineage(run_id, depth) AS (
               SELECT run_id, 0 FROM adapters WHERE id = ? AND run_id IS NOT NULL
               UNION
               SELECT a.run_id, l.depth + 1 FROM lineage l
               JOIN continual_runs c ON c.run_id = l.run_id
               JOIN adapters a ON a.id = c.continued_from
               WHERE a.run_id IS NOT NULL AND l.depth < 10000
           )
           SELECT run_id FROM lineage ORDER BY depth""",
        (adapter_id,),
    )
    return [int(r["run_id"]) for r in rows]


async def learned_by(db: Database, run_ids: Sequence[int]) -> list[LearnedTurn]:
    """Every turn the given runs learned (oldest run first)."""
    if not run_ids:
        return []
    marks = ", ".join("?" for _ in run_ids)
    rows = await db.fetchall(
        f"SELECT * FROM learned_turns WHERE run_id IN ({marks}) ORDER BY run_id", tuple(run_ids)
    )
    return [LearnedTurn(r["run_id"], TurnKey(r["chat_id"], r["message_id"], r["text_hash"]), bool(r["replay"]))
            for r in rows]


async def continued_from(db: Database, run_id: int) -> str | None:
    """The adapter run `run_id` continued from (None: it started from the base model or is unknown)."""
    return await db.scalar("SELECT continued_from FROM continual_runs WHERE run_id = ?", (run_id,))


async def version(db: Database) -> tuple[int, ...]:
    """A cheap fingerprint of what coverage is computed from (messages, edits, deletions, chats'
    training flags, promotions, learned turns); a cache keyed on it must still bound its age (two
    changes can cancel out)."""
    row = await db.fetchone(
        """SELECT (SELECT COUNT(*) FROM messages), (SELECT COALESCE(SUM(deleted), 0) FROM messages),
                  (SELECT COALESCE(MAX(edited_at), 0) FROM messages), (SELECT COUNT(*) FROM chats),
                  (SELECT COUNT(*) FROM chats WHERE train IS NOT NULL),
                  (SELECT COALESCE(MAX(id), 0) FROM promotions), (SELECT COUNT(*) FROM learned_turns),
                  (SELECT COUNT(*) FROM adapters)"""
    )
    return tuple(int(v) for v in row) if row is not None else ()
