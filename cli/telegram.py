"""Telegram commands: `login` and `harvest`. Thin calls into bot.login / bot.harvest; kurigram is
imported inside the commands so `--help` stays instant. While `tgtwin run` holds the session and
the database, these end with one line (exit 2) instead of SQLite's traceback (`run_async`)."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import check_chat_id, console, fail, run_async, state
from settings import Settings


def login_command(
    ctx: typer.Context,
    session_string: Annotated[str | None, typer.Option(
        "--session-string",
        help="Use an existing kurigram/Pyrogram session string instead of logging in; "
             "'-' asks for it without echoing (keeps it out of shell history).",
    )] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing session file.")] = False,
) -> None:
    """Log in to Telegram (phone, code and 2FA on the terminal) and store the session (0600) in the data dir."""
    from bot.client import TelegramNotConfigured
    from bot.login import InvalidSessionString, SessionExists, login_interactive, login_with_session_string
    from bot.session_lock import SessionInUse, hold_session

    settings = state(ctx).settings
    if session_string == "-":
        session_string = typer.prompt("Session string", hide_input=True)
    try:
        with hold_session(settings):
            if session_string is not None:
                who = run_async(login_with_session_string(settings, session_string, force=force))
            else:
                who = run_async(login_interactive(settings))
    except (TelegramNotConfigured, InvalidSessionString, SessionExists, SessionInUse) as exc:
        fail(str(exc))
    console.print(f"Logged in as {who.name or 'user'} (id {who.user_id}); session stored at {settings.session_path}")


def harvest_command(
    ctx: typer.Context,
    chat: Annotated[list[int] | None, typer.Option("--chat", help="Chat id to harvest (repeatable).")] = None,
    all_private: Annotated[bool, typer.Option("--all-private", help="Harvest every one-to-one chat.")] = False,
) -> None:
    """Backfill chat history into the database (resumable: run it again after an interruption)."""
    from bot.client import NotLoggedIn, TelegramNotConfigured
    from bot.harvest import HarvestError
    from bot.session_lock import SessionInUse, hold_session

    settings = state(ctx).settings
    chat_ids = [check_chat_id(c) for c in chat or []]
    if not chat_ids and not all_private:
        fail("give --chat ID (repeatable) and/or --all-private")
    try:
        with hold_session(settings):
            results = run_async(_harvest(settings, chat_ids, all_private))
    except (TelegramNotConfigured, NotLoggedIn, HarvestError, SessionInUse) as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted; every finished chunk is saved: run the same command again to resume", code=130)
    total = sum(r.stored for r in results)
    console.print(f"Harvested {len(results)} chat(s), {total} message(s) stored this run.")


async def _harvest(settings: Settings, chat_ids: list[int], all_private: bool) -> list:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from bot.client import build_client
    from bot.harvest import harvest
    from storage import Database

    client = build_client(settings)
    async with client, Database.open(settings.db_path) as db:
        with Progress(TextColumn("chat {task.fields[chat]}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console) as progress:
            tasks: dict[int, object] = {}

            async def on_chat_start(chat_id: int) -> None:
                try:
                    count = await client.get_chat_history_count(chat_id)
                except Exception:  # the count is cosmetic; the harvest itself reports real errors
                    count = None
                tasks[chat_id] = progress.add_task("", chat=chat_id, total=count)

            def on_progress(chat_id: int, stored: int) -> None:
                progress.update(tasks[chat_id], completed=stored)  # type: ignore[arg-type]

            return await harvest(client, db, chat_ids, all_private=all_private,
                                 on_progress=on_progress, on_chat_start=on_chat_start,
                                 allowed_service_chats=settings.allowed_service_chats)


def timing_command(
    ctx: typer.Context,
    chat: Annotated[int | None, typer.Option("--chat", help="One chat's pace (default: all chats).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The owner's pace learned from history (answer delay, typing speed, gap between messages)."""
    from bot.timing import timing_report
    from storage import Database

    settings = state(ctx).settings
    chat = None if chat is None else check_chat_id(chat)

    async def report():  # -> bot.timing.TimingReport
        async with Database.open(settings.db_path) as db:
            return await timing_report(db, settings.session_gap_minutes * 60.0, chat)

    result = run_async(report())
    if as_json:
        typer.echo(result.to_json())
        return
    for name, values in result.timing.summary().items():
        source = f"{values['samples']} samples" if values["learned"] else "default"
        console.print(f"{name}: median {values['median']}, p90 {values['p90']} ({source})")
