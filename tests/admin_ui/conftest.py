"""An app over a seeded database, driven through TestClient.

The database, the app's requests and background jobs all run on one event loop: a blocking portal
that the TestClients share (aiosqlite and asyncio locks belong to the loop that made them).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from fastapi.testclient import TestClient

from admin_ui.app import create_app
from model.dialogue import Dialogue
from services import Services
from settings import Settings
from storage import ChatRow, Database, MessageRow
from storage import chats as chat_queries
from storage import messages as message_queries
from storage import replies as reply_queries
from storage import training as training_queries
from tests.admin_ui.fakes import FakeModel, FakeTelegram, FakeTraining

TOKEN = "test-admin-token-0123456789"
ALICE, TEAM, EMPTY = 100, -200, 300
NOW = int(time.time()) - 3600  # the seeded chats' last session is recent: a typed message continues it

REPORT = {
    "evaluation": {
        "perplexity": {"new": 12.5, "base": 20.25, "promoted": None},
        "style": {
            "mean_chars": {"generated": 14.0, "real": 12.0, "gap": 2.0},
            "emoji_share": {"generated": 0.1, "real": 0.2, "gap": 0.1},
        },
        "samples": [{"context": [{"role": "partner", "text": "hi"}], "real": ["hey"], "generated": ["hi!"]}],
    },
    "promotion": {"promote": True, "reason": "held-out ppl 12.500 < 20.250", "reference": "base model"},
}


async def seed(db: Database) -> None:
    await chat_queries.upsert_chats(db, [
        ChatRow(ALICE, "private", "Alice"), ChatRow(TEAM, "group", "Team chat"), ChatRow(EMPTY, "private", "Quiet Bob"),
    ])
    rows = [
        MessageRow(ALICE, 1, ALICE, "Alice", False, NOW, "hi! how are you?"),
        MessageRow(ALICE, 2, 1, None, True, NOW + 30, "good, you?"),
        MessageRow(ALICE, 3, ALICE, "Alice", False, NOW + 60, "fine. dinner tonight?"),
        MessageRow(TEAM, 1, 7, "Carol", False, NOW, "standup in 5"),
    ]
    await message_queries.insert_messages(db, rows, "export")
    await reply_queries.log_decision(db, ALICE, 3, "skipped", "chat not whitelisted")
    await reply_queries.log_decision(db, TEAM, 1, "skipped", "groups are never answered unless listed")
    run = await training_queries.create_run(db, "cli", "tiny")
    await training_queries.update_run(
        db, run.id, status="succeeded", progress=1.0, loss_curve=[[1, 3.2], [2, 2.9], [3, 2.5]], report=REPORT,
        adapter_id="adapter-1",
    )
    await training_queries.add_adapter(
        db, "adapter-1", "/adapters/adapter-1", "tiny", run.id, {"perplexity": {"new": 12.5}}
    )
    await training_queries.add_adapter(db, "adapter-2", "/adapters/adapter-2", "tiny", None, {})


@dataclass
class PanelEnv:
    portal: BlockingPortal
    services: Services
    model: FakeModel
    telegram: FakeTelegram
    training: FakeTraining
    client: TestClient
    anonymous: TestClient

    def call(self, fn: Any, *args: Any) -> Any:
        """Run an async function on the app's loop (seeding, reading the database)."""
        return self.portal.call(fn, *args)


def make_client(app: Any, portal: BlockingPortal, token: str | None, address: str = "testclient") -> TestClient:
    """A client of `app` on the shared loop; `address` is the client IP the app sees."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    client = TestClient(app, headers=headers, raise_server_exceptions=False, client=(address, 50000))
    client.portal = portal  # share the loop that owns the database
    return client


@pytest.fixture
def portal() -> Iterator[BlockingPortal]:
    with start_blocking_portal() as blocking_portal:
        yield blocking_portal


@pytest.fixture
def env(portal: BlockingPortal, settings: Settings) -> Iterator[PanelEnv]:
    with contextlib.ExitStack() as stack:
        db = stack.enter_context(portal.wrap_async_context_manager(Database.open(settings.db_path)))
        portal.call(seed, db)
        model, telegram, training = FakeModel(), FakeTelegram(), FakeTraining(db)
        services = Services(settings=settings, db=db, model=model, training=training, telegram=telegram)
        app = create_app(services, TOKEN, with_panel=False)
        yield PanelEnv(portal, services, model, telegram, training,
                       make_client(app, portal, TOKEN), make_client(app, portal, None))
        portal.call(app.state.jobs.cancel_all)


def last_dialogue(model: FakeModel) -> Dialogue:
    return model.dialogues[-1]
