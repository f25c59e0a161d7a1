"""Core commands: `import-export` (Telegram Desktop export → database) and `status` (counts).

Thin calls into telegram_export and storage; nothing heavy is imported at module level, so
`python main.py --help` stays instant.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from cli_support import console, fail, run_async, state
from settings import Settings


def register(app: typer.Typer) -> None:
    app.command("import-export")(import_export_command)
    app.command("status")(status_command)


def import_export_command(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="The export's result.json (single chat or whole account).")],
    owner_id: Annotated[Optional[int], typer.Option(
        "--owner-id", help="Your Telegram user id, for exports without personal_information.",
    )] = None,
) -> None:
    """Import a Telegram Desktop JSON export. Idempotent; on bad input nothing is written (exit 2)."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from telegram_export import ExportFormatError, import_export
    from storage import Database

    settings: Settings = state(ctx).settings

    async def run() -> Any:
        async with Database.open(settings.db_path) as db:
            with Progress(
                SpinnerColumn(), TextColumn("importing"), BarColumn(),
                TextColumn("{task.completed:,.0f} messages"), TimeElapsedColumn(),
                console=console, transient=True,
            ) as bar:
                task = bar.add_task("import", total=None)
                return await import_export(
                    db, path, owner_id, progress=lambda done: bar.update(task, completed=done)
                )

    try:
        result = run_async(run())
    except ExportFormatError as exc:
        fail(f"{path}: {exc}")
    console.print(
        f"imported {result.chats} chats: {result.messages_added:,} messages added, "
        f"{result.messages_skipped:,} already present, {result.service_skipped:,} service messages skipped, "
        f"{result.media_placeholders:,} media placeholders (owner {result.owner_id})",
        highlight=False,
    )


async def collect_status(settings: Settings) -> dict[str, Any]:
    """Counts and state for `status` (and anything else that wants the same summary)."""
    from storage import Database, kv
    from storage import chats as chat_queries
    from storage import messages as message_queries
    from storage import replies as reply_queries
    from storage import training as training_queries

    async with Database.open(settings.db_path) as db:
        counts = await message_queries.counts(db)
        promoted = await training_queries.promoted_adapter(db)
        runs = await training_queries.list_runs(db, limit=1)
        return {
            "chats": counts.chats,
            "messages": counts.messages,
            "owner_messages": counts.owner_messages,
            "whitelisted_chats": len(await chat_queries.list_reply_chats(db)),
            "drafts_pending": len(await reply_queries.list_drafts(db, "pending", limit=100_000)),
            "adapters": len(await training_queries.list_adapters(db)),
            "promoted_adapter": promoted.id if promoted else None,
            "last_training_run": {"id": runs[0].id, "status": runs[0].status} if runs else None,
            "autoreply_enabled": bool(await kv.get_value(db, kv.AUTOREPLY_ENABLED, True)),
            "owner_id": await kv.get_value(db, kv.OWNER_ID),
            "telegram_configured": settings.telegram_configured,
            "database": str(settings.db_path),
        }


def status_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Counts: chats, messages (service messages are not counted; media placeholders are), the
    owner's messages, drafts, adapters, and whether auto-replies are on."""
    info = run_async(collect_status(state(ctx).settings))
    if as_json:
        typer.echo(json.dumps(info, ensure_ascii=False))
        return
    width = max(len(key) for key in info)
    for key, value in info.items():
        shown = "—" if value is None else value
        if isinstance(value, dict):
            shown = ", ".join(f"{k} {v}" for k, v in value.items())
        console.print(f"{key.replace('_', ' '):<{width}}  {shown}", highlight=False)
