"""The global auto-reply switch turned off while a panel import runs stays off when that import
fails and rolls back (issue 18 item 3: the switch's write used to join the import's transaction)."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from storage import kv
from storage import messages as message_queries
from telegram_export import walker
from tests.admin_ui.conftest import PanelEnv

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "sample_export.json"
WAIT = 30  # seconds: only a guard against a hang, never a measured figure


def test_the_kill_switch_survives_an_import_that_rolls_back(env: PanelEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(walker, "CHUNK_ROWS", 2)
    import_inside, go_on, switch_writing = threading.Event(), threading.Event(), threading.Event()
    insert, set_value = message_queries.insert_message_params, kv.set_value

    async def paused_insert(db, params):  # type: ignore[no-untyped-def]
        added = await insert(db, params)
        if not import_inside.is_set():  # the import's transaction is open and holds rows
            import_inside.set()
            await asyncio.to_thread(go_on.wait, WAIT)
        return added

    async def watched_set_value(db, key, value):  # type: ignore[no-untyped-def]
        switch_writing.set()
        await set_value(db, key, value)

    monkeypatch.setattr(message_queries, "insert_message_params", paused_insert)
    monkeypatch.setattr(kv, "set_value", watched_set_value)
    messages_before = env.client.get("/api/status").json()["counts"]["messages"]
    text = SAMPLE.read_text(encoding="utf-8")
    truncated = text[: int(len(text) * 0.9)].encode()  # its first rows go in; its end is missing
    job_id = env.client.post("/api/import", files={"file": ("result.json", truncated, "application/json")}).json()["id"]
    assert import_inside.wait(WAIT)

    with ThreadPoolExecutor(1) as pool:
        put = pool.submit(env.client.put, "/api/autoreply", json={"enabled": False})
        assert switch_writing.wait(WAIT)  # the switch's write has started while the import is open
        go_on.set()  # the import reads on, finds the file truncated and rolls back
        response = put.result(WAIT)

    assert response.status_code == 200 and response.json() == {"enabled": False}
    env.call(env.client.app.state.jobs.wait, job_id)  # type: ignore[attr-defined]
    job = env.client.get(f"/api/jobs/{job_id}").json()
    assert job["status"] == "failed" and "truncated" in job["error"]
    status = env.client.get("/api/status").json()
    assert status["autoreply_enabled"] is False
    assert status["counts"]["messages"] == messages_before  # the import left nothing behind
