"""Data commands: `import-export` (Telegram Desktop export → database, `application.ingest`) and
`status` (the status snapshot, `application.status`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.common import console, fail, run_async, state

if TYPE_CHECKING:
    from settings import Settings


def import_export_command(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="The export's result.json (single chat or whole account).")],
    owner_id: Annotated[int | None, typer.Option(
        "--owner-id", help="Your Telegram user id, for exports without personal_information.",
    )] = None,
) -> None:
    """Import a Telegram Desktop JSON export. Idempotent; on bad input nothing is written (exit 2)."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from application.ingest import import_history
    from storage import Database
    from telegram_export import ExportFormatError

    settings: Settings = state(ctx).settings

    async def run() -> Any:
        async with Database.open(settings.db_path) as db:
            with Progress(
                SpinnerColumn(), TextColumn("importing"), BarColumn(),
                TextColumn("{task.completed:,.0f} messages"), TimeElapsedColumn(),
                console=console, transient=True,
            ) as bar:
                task = bar.add_task("import", total=None)
                return await import_history(db, settings, path, owner_id,
                                            progress=lambda done: bar.update(task, completed=done))

    try:
        result = run_async(run())
    except ExportFormatError as exc:
        fail(f"{path}: {exc}")
    console.print(
        f"imported {result.chats} chats: {result.messages_added:,} messages added, "
        f"{result.messages_skipped:,} already present, {result.service_skipped:,} service messages skipped, "
        f"{result.media_placeholders:,} media placeholders, {result.texts_unreadable:,} texts unreadable "
        f"(owner {result.owner_id})",
        highlight=False,
    )


def status_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Counts (chats, messages — service messages are not stored, media placeholders are — the owner's
    messages, drafts, adapters, preference pairs), the served adapter, the last training run, the
    training coverage (owner turns learned, and what a full pass still needs) and the auto-reply switch:
    the same snapshot the panel's dashboard and `GET /api/status` show."""
    from application.status import stored_status

    snapshot = run_async(stored_status(state(ctx).settings))
    if as_json:
        typer.echo(json.dumps(snapshot.as_dict(), ensure_ascii=False))
        return
    c, last, pairs = snapshot.counts, snapshot.training.last_run, snapshot.preference_pairs
    rows = [
        ("chats", f"{c.chats} ({c.auto_chats} auto, {c.draft_chats} draft)"),
        ("messages", c.messages),
        ("owner messages", c.owner_messages),
        ("pending drafts", c.pending_drafts),
        ("adapters", c.adapters),
        ("promoted adapter", snapshot.adapter or "— (base model)"),
        ("last training run", f"{last.id} {last.status}" if last else "—"),
        ("coverage", snapshot.coverage.summary() if snapshot.coverage else "—"),
        ("training processes", snapshot.training.processes),
        ("preference pairs", f"{pairs.total} ({pairs.unused} not yet trained on)"),
        ("auto-replies", "on" if snapshot.autoreply_enabled else "off (global stop)"),
        ("owner id", snapshot.owner_id if snapshot.owner_id is not None else "—"),
        ("telegram", "configured" if snapshot.telegram.configured else "not configured"),
        ("database", snapshot.database),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        console.print(f"{name:<{width}}  {value}", markup=False, highlight=False)
