"""What the dashboard and `/health`, `/api/status` show: read-only snapshots of the running parts."""

from __future__ import annotations

import weakref
from typing import Any

from product_status import StatusFigures, StatusSnapshot, collect_status
from services import Services
from storage import Database, kv
from storage import chats as chat_queries
from storage import messages as message_queries
from storage import replies as reply_queries
from training.preference_pairs import PreferencePairCounts


def telegram_connected(services: Services) -> bool:
    return services.telegram is not None and bool(services.telegram.connected)


async def autoreply_enabled(services: Services) -> bool:
    return await kv.autoreply_enabled(services.db)


async def set_autoreply(services: Services, enabled: bool) -> bool:
    await kv.set_value(services.db, kv.AUTOREPLY_ENABLED, bool(enabled))
    return bool(enabled)


_figures: weakref.WeakKeyDictionary[Database, StatusFigures] = weakref.WeakKeyDictionary()


def _kept_figures(services: Services) -> StatusFigures:
    """One `StatusFigures` per database: the dashboard and every open panel poll the status."""
    figures = _figures.get(services.db)
    if figures is None:
        figures = _figures[services.db] = StatusFigures(services.settings)
    return figures


async def preference_pair_counts(services: Services) -> PreferencePairCounts:
    """The running app's preference pair counts (kept current, see `StatusFigures`)."""
    return await _kept_figures(services).pairs.counts(services.db)


async def snapshot(services: Services) -> StatusSnapshot:
    """The running app's status snapshot (`product_status.collect_status` with what runs here)."""
    return await collect_status(
        services.db, services.settings, model=services.model.status(), training=services.training,
        telegram_connected=telegram_connected(services), schedule=services.schedule,
        figures=_kept_figures(services),
    )


async def chat_list(services: Services, search: str = "", limit: int = 500) -> list[dict[str, Any]]:
    """Chats with their settings and message counts (the whitelist view)."""
    counts = await message_queries.chat_message_counts(services.db)
    rows = await chat_queries.list_chats(services.db, search, limit)
    return [
        {
            "id": c.id, "type": c.type, "title": c.title, "mode": c.reply_mode,
            "relationship": c.relationship, "train": c.train,
            "relationship_suggestion": c.relationship_suggestion, "relationship_reason": c.relationship_reason,
            "messages": counts.get(c.id, (0, 0))[0], "owner_messages": counts.get(c.id, (0, 0))[1],
        }
        for c in rows
    ]


async def chat_detail(services: Services, chat_id: int) -> dict[str, Any]:
    """One chat with its counts, last message time and what the bot decided there recently."""
    db = services.db
    chat = await chat_queries.get_chat(db, chat_id)
    messages, owner_messages = (await message_queries.chat_message_counts(db)).get(chat_id, (0, 0))
    last = await message_queries.recent_messages(db, chat_id, 1)
    decisions = await reply_queries.list_decisions(db, chat_id=chat_id, limit=1000)
    by_decision: dict[str, int] = {}
    for entry in decisions:
        by_decision[entry.decision] = by_decision.get(entry.decision, 0) + 1
    pending = [d for d in await reply_queries.list_drafts(db, "pending", limit=1000) if d.chat_id == chat_id]
    return {
        "id": chat.id, "type": chat.type, "title": chat.title, "mode": chat.reply_mode,
        "relationship": chat.relationship, "train": chat.train,
        "relationship_suggestion": chat.relationship_suggestion, "relationship_reason": chat.relationship_reason,
        "messages": messages, "owner_messages": owner_messages,
        "last_message_at": last[-1].date if last else None,
        "decisions": by_decision, "pending_drafts": len(pending),
    }
