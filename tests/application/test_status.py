"""One status snapshot: `tgtwin status --json`, `GET /api/status`'s source and the panel agree on
every count, with no limit that makes them differ (issue 14 item 4)."""

from __future__ import annotations

import asyncio
import json

from typer.testing import CliRunner

from application import overview
from services import Services
from settings import Settings
from storage import ChatRow, Database, MessageRow, kv
from storage import chats as chat_queries
from storage import messages as message_queries
from storage import replies as reply_queries
from tests.admin_ui.fakes import FakeModel

PENDING = 1_005  # beyond the 1,000 the panel once counted up to


async def seed(settings: Settings) -> None:
    async with Database.open(settings.db_path) as db:
        await chat_queries.upsert_chats(db, [ChatRow(5, "private", "Anna"), ChatRow(6, "private", "Bo")])
        await chat_queries.update_chat_settings(db, 5, reply_mode="auto")
        await message_queries.insert_messages(db, [
            MessageRow(5, 1, 7, "Anna", False, 1000, "hi"), MessageRow(5, 2, None, None, True, 1010, "hey"),
        ], "export")
        async with db.atomic():
            for _ in range(PENDING):
                await reply_queries.create_draft(db, 5, "draft")
        edited = await reply_queries.create_draft(db, 5, "Hello there, how are you?", trigger_message_id=1)
        await reply_queries.close_draft(db, edited.id, "sent", sent_text="hey)")
        await kv.set_value(db, kv.AUTOREPLY_ENABLED, False)


async def api_snapshot(settings: Settings) -> dict:
    async with Database.open(settings.db_path) as db:
        return (await overview.snapshot(Services(settings=settings, db=db, model=FakeModel()))).as_dict()


def test_cli_and_panel_show_the_same_snapshot(settings: Settings) -> None:
    from cli.app import app

    asyncio.run(seed(settings))
    result = CliRunner().invoke(app, ["--data-dir", str(settings.data_dir), "status", "--json"])
    assert result.exit_code == 0, result.output
    cli = json.loads(result.stdout)
    api = asyncio.run(api_snapshot(settings))
    assert cli["counts"] == api["counts"]
    assert cli["counts"] == {"chats": 2, "messages": 2, "owner_messages": 1, "pending_drafts": PENDING,
                             "auto_chats": 1, "draft_chats": 0, "adapters": 0}
    assert cli["autoreply_enabled"] is api["autoreply_enabled"] is False
    assert cli["model"] is None and api["model"]["backend"] == "fake" and api["model"]["state"] == "ready"
    assert api["training"]["available"] is False and cli["scheduler"] == api["scheduler"]
    assert cli["training"]["processes"] == api["training"]["processes"] == settings.train_processes
    # the one edited draft is a preference pair no run has used yet; the unchanged pending ones are not
    assert cli["preference_pairs"] == api["preference_pairs"] == {"total": 1, "unused": 1, "edited": 1, "own_reply": 0}
