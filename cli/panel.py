"""`panel-url`: print the panel's login link again (the start-up banner shows it only once).

`run` and `serve` themselves live in main.py, the composition root.
"""

from __future__ import annotations

import typer

from cli_support import state


def register(app: typer.Typer) -> None:
    app.command("panel-url")(panel_url_command)


def panel_url_command(ctx: typer.Context) -> None:
    """Print the panel address; with a generated token, the one-click login link (keep it private)."""
    from admin_ui.auth import resolve_admin_token
    from admin_ui.server import panel_url

    settings = state(ctx).settings
    token, generated = resolve_admin_token(settings)
    typer.echo(panel_url(settings.host, settings.port, token if generated else None))
