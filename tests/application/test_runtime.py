"""The composition root's start-up: what can refuse to start does so before Telegram is touched
(a busy panel port, a held session), and the panel is built before the Telegram client connects."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from application.errors import StartupError
from application.runtime import _telegram_session
from bot.session_lock import hold_session
from settings import Settings, load_settings
from testdata.doubles import FakeModel
from testdata.telegram_fake import API_HASH, API_ID, FakeTelegram, fake_transport
from tests.bot.live_bot import write_session_file


@pytest.fixture
def server() -> Iterator[FakeTelegram]:
    """kurigram talks to this fake server only; it records every request it gets."""
    fake = FakeTelegram()
    with fake_transport(fake):
        yield fake


@pytest.fixture
def live_settings(settings: Settings) -> Settings:
    """Telegram configured and logged in (a session file exists): `run` would start the client."""
    configured = settings.model_copy(update={"api_id": API_ID, "api_hash": SecretStr(API_HASH), "demo": False})
    asyncio.run(write_session_file(configured))
    assert configured.telegram_configured and configured.session_path.exists()
    return configured


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port another program listens on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_held_session_is_a_startup_error(settings: Settings) -> None:
    configured = load_settings(data_dir=settings.data_dir, base_model="tiny", api_id=API_ID, api_hash=API_HASH)
    configured.data_dir.mkdir(parents=True)
    configured.session_path.write_bytes(b"")  # a session exists: the client would start
    with hold_session(configured), pytest.raises(StartupError, match="in use by another tgtwin process"):
        with _telegram_session(configured):
            pass


def test_run_with_the_panel_port_busy_stops_before_telegram(live_settings: Settings, server: FakeTelegram,
                                                            busy_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from cli.app import app

    monkeypatch.setenv("TGTWIN_DATA_DIR", str(live_settings.data_dir))
    monkeypatch.setenv("TGTWIN_API_ID", str(API_ID))
    monkeypatch.setenv("TGTWIN_API_HASH", API_HASH)
    monkeypatch.setenv("TGTWIN_DEMO", "false")
    result = CliRunner().invoke(app, ["run", "--port", str(busy_port)])

    assert result.exit_code == 2, result.output
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and f"port {busy_port} is already in use" in line
    assert server.requests == []  # Telegram was never asked anything
    log_text = "".join(p.read_text() for p in Path(live_settings.logs_dir).glob("tgtwin.log*"))
    assert f"start-up failed: the panel's port {busy_port} is already in use" in log_text


async def test_the_panel_is_built_before_telegram_connects(live_settings: Settings, server: FakeTelegram,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import admin_ui.app
    import application.runtime
    from admin_ui.server import PanelServer

    events: list[str] = []
    real_create_app = admin_ui.app.create_app

    def create_app(*args, **kwargs):  # type: ignore[no-untyped-def]
        app = real_create_app(*args, **kwargs)
        events.append("panel built")
        return app

    monkeypatch.setattr(admin_ui.app, "create_app", create_app)
    monkeypatch.setattr(application.runtime, "build_model", lambda *_: contextlib.nullcontext(FakeModel()))
    server.on_request = lambda query: events.append(f"telegram {type(query).__name__}")
    settings = live_settings.model_copy(update={"port": _free_port()})

    stop = asyncio.Event()
    running = asyncio.create_task(
        application.runtime.run_product(settings, PanelServer(settings), with_telegram=True, stop=stop))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.port}") as client:
            for _ in range(600):
                with contextlib.suppress(httpx.TransportError):
                    health = await client.get("/health")
                    if health.json()["telegram_connected"]:
                        break
                assert not running.done(), running.exception()
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the panel never reported Telegram connected")
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)
    assert events[0] == "panel built" and events[1].startswith("telegram ")
