"""The running app and its panel: `run`, `serve` and `panel-url` (the login link again; the
start-up banner shows it only once). The composition root itself is `application.runtime.run_product`,
run through the panel (`admin_ui.server.PanelServer`)."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import fail, run_async, state

HostOption = Annotated[str | None, typer.Option(help="Bind address (default TGTWIN_HOST).")]
PortOption = Annotated[int | None, typer.Option(help="Port, 1-65535 (default TGTWIN_PORT).")]


def run_command(ctx: typer.Context, host: HostOption = None, port: PortOption = None) -> None:
    """Run everything: the Telegram client (when configured), the scheduler and the panel."""
    _run_product(ctx, host, port, with_telegram=True)


def serve_command(ctx: typer.Context, host: HostOption = None, port: PortOption = None) -> None:
    """Run the panel and API only (no Telegram)."""
    _run_product(ctx, host, port, with_telegram=False)


def _run_product(ctx: typer.Context, host: str | None, port: int | None, with_telegram: bool) -> None:
    """A start-up error is one line on the console and, with the reason, in the log file; any other
    error that ends the run too, with its traceback in the file only. A database the run cannot use
    is one line as for every command (`run_async`)."""
    import logging

    from admin_ui.server import PanelServer
    from application.errors import StartupError
    from application.runtime import run_product
    from logging_setup import FILE_ONLY

    if port is not None and not 1 <= port <= 65535:
        fail(f"--port {port} is not a TCP port (1-65535)")
    settings = state(ctx).settings
    updates = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    if updates:
        settings = settings.model_copy(update=updates)
    log = logging.getLogger("tgtwin")
    try:
        run_async(run_product(settings, PanelServer(settings), with_telegram=with_telegram))
    except StartupError as exc:
        log.error("start-up failed: %s", exc, extra=FILE_ONLY)
        fail(str(exc))
    except KeyboardInterrupt:
        pass
    except typer.Exit:
        raise  # run_async's one line for a database error, already printed
    except Exception as exc:
        log.error("stopped by an error", exc_info=True, extra=FILE_ONLY)
        fail(f"stopped by an error ({type(exc).__name__}: {exc}); the traceback is in {settings.logs_dir}", code=1)


def panel_url_command(ctx: typer.Context) -> None:
    """Print the panel address; with a generated token, the one-click login link (keep it private)."""
    from admin_ui.auth import resolve_admin_token
    from admin_ui.server import panel_url

    settings = state(ctx).settings
    token, generated = resolve_admin_token(settings)
    typer.echo(panel_url(settings.host, settings.port, token if generated else None))
