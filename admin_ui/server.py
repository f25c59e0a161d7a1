"""Serving the app inside the caller's event loop, and telling the owner where the panel is."""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO
from urllib.parse import quote

from fastapi import FastAPI


async def serve(app: FastAPI, host: str, port: int, stop: asyncio.Event | None = None) -> None:
    """Run uvicorn in the running loop (beside the bot and the scheduler) until a signal arrives or
    `stop` is set; either way it shuts down gracefully (lifespan shutdown, background jobs cancelled).

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
        await server.serve()
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
