"""`serve` inside a running loop: answers, never logs the login link, stops when asked."""

from __future__ import annotations

import asyncio
import logging
import socket

import httpx
import pytest

from admin_ui.app import create_app
from admin_ui.server import serve
from services import Services
from settings import Settings
from storage import Database
from tests.admin_ui.conftest import TOKEN
from tests.admin_ui.fakes import FakeModel


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_serve_runs_in_the_loop_and_stops_gracefully(
    settings: Settings, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    port, stop = _free_port(), asyncio.Event()
    app = create_app(Services(settings=settings, db=db, model=FakeModel()), TOKEN, with_panel=False)
    task = asyncio.create_task(serve(app, "127.0.0.1", port, stop))
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        for _ in range(100):
            try:
                health = await client.get("/health")
                break
            except httpx.ConnectError:
                await asyncio.sleep(0.05)
        else:
            raise AssertionError("the server did not answer GET /health within 5 s")
        assert health.status_code == 200 and health.json()["telegram_connected"] is False
        login = await client.get(f"/login?token={TOKEN}", follow_redirects=False)
        assert login.status_code == 303
    stop.set()
    await asyncio.wait_for(task, 10)
    server_side = [r.getMessage() for r in caplog.records if r.name.startswith(("uvicorn", "admin_ui", "fastapi"))]
    assert server_side and not any(TOKEN in line for line in server_side)
