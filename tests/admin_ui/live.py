"""The real app on a free loopback port: uvicorn in a thread, over the seeded database and the fakes.

Used where a test needs real HTTP (Gradio's API, a browser, schemathesis over the wire). The server's
loop owns the database; `LiveServer.call` runs a coroutine there."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from admin_ui.app import create_app
from admin_ui.auth import SESSION_COOKIE
from application.jobs import JobRegistry
from services import Services
from settings import Settings
from storage import Database
from tests.admin_ui.conftest import TOKEN, seed
from tests.admin_ui.fakes import FakeModel, FakeTelegram, FakeTraining


@dataclass
class LiveServer:
    url: str
    loop: asyncio.AbstractEventLoop
    services: Services
    telegram: FakeTelegram
    jobs: JobRegistry

    def call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run a coroutine on the server's loop (which owns the database)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def log_in(self) -> dict[str, str]:
        """The session cookie a browser gets from the login form."""
        response = httpx.post(f"{self.url}/login", data={"token": TOKEN}, follow_redirects=False)
        assert response.status_code == 303, response.text
        return {SESSION_COOKIE: response.cookies[SESSION_COOKIE]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def live_server(settings: Settings, *, with_panel: bool = True) -> Iterator[LiveServer]:
    import uvicorn

    port = free_port()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def main() -> None:
        async with Database.open(settings.db_path) as db:
            await seed(db)
            telegram = FakeTelegram()
            services = Services(settings=settings, db=db, model=FakeModel(), training=FakeTraining(db),
                                telegram=telegram)
            app = create_app(services, TOKEN, with_panel=with_panel)
            server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False))
            holder.update(loop=asyncio.get_running_loop(), services=services, telegram=telegram, server=server,
                          jobs=app.state.jobs)
            task = asyncio.create_task(server.serve())
            while not server.started and not task.done():
                await asyncio.sleep(0.05)
            ready.set()
            await task

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    assert ready.wait(60), "the live server did not start within 60 s"
    assert holder["server"].started, "the live server stopped during start-up (see the log above)"
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", holder["loop"], holder["services"], holder["telegram"],
                         holder["jobs"])
    finally:
        holder["server"].should_exit = True
        thread.join(30)
