"""Small key/value settings that change at run time (global auto-reply switch, owner id…)."""

from __future__ import annotations

import json
from typing import Any

from storage.db import Database

AUTOREPLY_ENABLED = "autoreply_enabled"
OWNER_ID = "owner_id"

# With no stored value the global switch is on: per-chat modes (default `off`) already keep every
# chat silent until the owner lists it, so the switch is an emergency stop, not a second opt-in.
AUTOREPLY_DEFAULT = True


async def get_value(db: Database, key: str, default: Any = None) -> Any:
    raw = await db.scalar("SELECT value FROM kv WHERE key = ?", (key,))
    return default if raw is None else json.loads(raw)


async def set_value(db: Database, key: str, value: Any) -> None:
    await db.execute(
        "INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, json.dumps(value)),
    )


async def autoreply_enabled(db: Database) -> bool:
    """The global auto-reply switch (the one place its default is applied)."""
    return bool(await get_value(db, AUTOREPLY_ENABLED, AUTOREPLY_DEFAULT))
