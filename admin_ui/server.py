"""Serving the app inside the caller's event loop, and telling the owner where the panel is.

The panel's port is taken first (`bind_panel`, before the database, the model or Telegram start),
so a busy port is one clear line at once, not a failure after the live client has been syncing for
a while; `serve` later listens on those same sockets. `PanelServer` does these steps for the
composition root (`application.runtime.run_product`), which runs the product through it.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO
from urllib.parse import quote

from fastapi import FastAPI

from application.errors import StartupError
from settings import Settings

if TYPE_CHECKING:
    from services import Services

LISTEN_BACKLOG = 2048  # uvicorn's default: connections that arrive during start-up wait in it


class PanelPortUnavailable(OSError):
    """The panel cannot listen on the configured host and port (the message says why)."""


def bind_panel(host: str, port: int) -> list[socket.socket]:
    """Bind and listen on every address `host` resolves to (as uvicorn would), or raise
    `PanelPortUnavailable` naming the address and the reason. The caller owns the sockets."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise PanelPortUnavailable(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart may follow TIME_WAIT
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)  # each family its own socket
            try:
                sock.bind(address)
            except OSError as exc:
                raise PanelPortUnavailable(_bind_failure(host, port, exc)) from None
            sock.listen(LISTEN_BACKLOG)
            sock.setblocking(False)
    except BaseException:
        close_sockets(sockets)
        raise
    return sockets


def _bind_failure(host: str, port: int, exc: OSError) -> str:
    where = f"{host or '*'}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return (f"the panel's port {port} is already in use ({where}; is another tgtwin running?): "
                "stop that program or choose another port with --port / TGTWIN_PORT")
    return f"cannot listen on {where}: {exc.strerror or exc}"


def close_sockets(sockets: Sequence[socket.socket]) -> None:
    for sock in sockets:
        sock.close()


async def serve(app: FastAPI, host: str, port: int, stop: asyncio.Event | None = None, *,
                sockets: list[socket.socket] | None = None) -> None:
    """Run uvicorn in the running loop (beside the bot and the scheduler) until a signal arrives or
    `stop` is set; either way it shuts down gracefully (lifespan shutdown, background jobs cancelled).
    With `sockets` (from `bind_panel`) it serves on them; otherwise it binds `host`:`port` itself.

    The access log is off: the login link carries the token in its query string, and request
    lines have no place in a log file that must never hold secrets.
    """
    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, lifespan="on")
    server = uvicorn.Server(config)

    async def stop_when_asked() -> None:
        assert stop is not None
        await stop.wait()
        server.should_exit = True

    watcher = asyncio.create_task(stop_when_asked()) if stop is not None else None
    try:
        await server.serve(sockets=sockets)
    finally:
        if watcher is not None:
            watcher.cancel()


def panel_url(host: str, port: int, token: str | None = None) -> str:
    """The address a browser on this machine should open; with a token, the one-click login link."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else "[::1]" if host == "::" else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    base = f"http://{shown}:{port}"
    if token is None:
        return f"{base}/ui/"
    return f"{base}/login?token={quote(token, safe='')}"


def announce_panel(host: str, port: int, token: str, generated: bool, out: TextIO | None = None) -> None:
    """Print the panel URL once, to the terminal only (never through logging, so never to the log file).
    A generated token is part of the link, like Jupyter; a configured one the owner already has."""
    out = out or sys.stdout
    if generated:
        print(f"\n  tgtwin panel: {panel_url(host, port, token)}\n", file=out, flush=True)
    else:
        print(f"\n  tgtwin panel: {panel_url(host, port)}  (log in with TGTWIN_ADMIN_TOKEN)\n", file=out, flush=True)


class PanelServer:
    """The panel and REST API as the composition root runs them (`application.runtime.Face`): bind
    the port (refusing a public bind without a configured token), import Gradio off the loop,
    build the app over the wired services, announce the URL and serve until stopped."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._sockets: list[socket.socket] = []
        self._app: FastAPI | None = None
        self._token: tuple[str, bool] | None = None

    def bind(self) -> None:
        from admin_ui.auth import BindRefused, check_bind_allowed

        try:
            check_bind_allowed(self.settings.host, self.settings.admin_token is not None)
            self._sockets = bind_panel(self.settings.host, self.settings.port)
        except (BindRefused, PanelPortUnavailable) as exc:
            raise StartupError(str(exc)) from None

    def close(self) -> None:
        close_sockets(self._sockets)

    async def prepare(self) -> None:
        from admin_ui.app import import_panel

        await asyncio.to_thread(import_panel)

    def build(self, services: Services) -> None:
        from admin_ui.app import create_app
        from admin_ui.auth import resolve_admin_token

        self._token = resolve_admin_token(self.settings)
        self._app = create_app(services, self._token[0])

    async def serve(self, stop: asyncio.Event | None) -> None:
        assert self._app is not None and self._token is not None, "build() first"
        host, port = self.settings.host, self.settings.port
        announce_panel(host, port, *self._token)
        await serve(self._app, host, port, stop, sockets=self._sockets)
