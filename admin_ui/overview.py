"""What the dashboard and `/health`, `/api/status` show: read-only snapshots of the running parts."""

from __future__ import annotations

from typing import Any

from services import Services
from storage import kv
from storage import chats as chat_queries
from storage import messages as message_queries
from storage import replies as reply_queries
from storage import training as training_queries

# With no stored value the global switch is on: per-chat modes (default `off`) already keep every
# chat silent until the owner lists it, so the switch is an emergency stop, not a second opt-in.
AUTOREPLY_DEFAULT = True


def telegram_connected(services: Services) -> bool:
    return services.telegram is not None and bool(services.telegram.connected)


async def autoreply_enabled(services: Services) -> bool:
    return bool(await kv.get_value(services.db, kv.AUTOREPLY_ENABLED, AUTOREPLY_DEFAULT))


async def set_autoreply(services: Services, enabled: bool) -> bool:
    await kv.set_value(services.db, kv.AUTOREPLY_ENABLED, bool(enabled))
    return bool(enabled)


def model_status(services: Services) -> dict[str, Any]:
    return dict(services.model.status())


def scheduler_status(services: Services) -> dict[str, Any]:
    """The retrain schedule as configured, and when the running schedule checks next."""
    settings = services.settings
    info: dict[str, Any] = {
        "cron": settings.retrain_cron or None,
        "interval_hours": settings.retrain_interval_hours or None,
        "min_new_messages": settings.retrain_min_new_messages,
        "enabled": bool(settings.retrain_cron or settings.retrain_interval_hours),
    }
    next_run = getattr(services.extras.get("schedule"), "next_run_time", None)
    info["next_run"] = next_run.isoformat() if next_run is not None else None
    return info


async def status_snapshot(services: Services) -> dict[str, Any]:
    db = services.db
    counts = await message_queries.counts(db)
    whitelist = await chat_queries.list_reply_chats(db)
    pending = await reply_queries.list_drafts(db, "pending", limit=1000)
    promoted = await training_queries.promoted_adapter(db)
    last_run = (await training_queries.list_runs(db, limit=1) or [None])[0]
    training = services.training
    return {
        "counts": {
            "chats": counts.chats,
            "messages": counts.messages,
            "owner_messages": counts.owner_messages,
            "pending_drafts": len(pending),
            "auto_chats": sum(1 for m in whitelist.values() if m == "auto"),
            "draft_chats": sum(1 for m in whitelist.values() if m == "draft"),
        },
        "autoreply_enabled": await autoreply_enabled(services),
        "model": model_status(services),
        "adapter": promoted.id if promoted else None,
        "telegram": {"configured": services.settings.telegram_configured, "connected": telegram_connected(services)},
        "training": {
            "available": training is not None,
            "running": bool(training and training.is_running()),
            "last_run": None if last_run is None else {
                "id": last_run.id, "status": last_run.status, "progress": last_run.progress,
                "adapter_id": last_run.adapter_id, "started_at": last_run.started_at,
                "finished_at": last_run.finished_at,
            },
        },
        "scheduler": scheduler_status(services),
    }


async def chat_list(services: Services, search: str = "", limit: int = 500) -> list[dict[str, Any]]:
    """Chats with their settings and message counts (the whitelist view)."""
    counts = await message_queries.chat_message_counts(services.db)
    rows = await chat_queries.list_chats(services.db, search, limit)
    return [
        {
            "id": c.id, "type": c.type, "title": c.title, "mode": c.reply_mode,
            "relationship": c.relationship, "train": c.train,
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
        "messages": messages, "owner_messages": owner_messages,
        "last_message_at": last[-1].date if last else None,
        "decisions": by_decision, "pending_drafts": len(pending),
    }
