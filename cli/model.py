"""Model commands: `reply` — answer a stored chat from the command line, the way live mode would
(context from `bot.context.chat_dialogue`, the promoted adapter, the same model service)."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import check_chat_id, console, fail, run_async, state
from settings import Settings


def reply_command(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="The partner's new message to answer.")],
    chat: Annotated[int, typer.Option("--chat", help="Numeric chat id (see the panel's Chats tab).")],
    candidates: Annotated[int, typer.Option(min=1, max=8, help="Print this many sampled replies.")] = 1,
) -> None:
    """Print the reply tgtwin would send to `text` in chat CHAT (nothing is sent)."""
    from model.service import ModelServiceError
    from storage import NotFound

    check_chat_id(chat)
    if not text.strip():
        fail("the message to answer is empty")
    if not _is_unicode(text):
        fail("the message to answer is not valid UTF-8 text (check the terminal's encoding)")
    settings = state(ctx).settings
    try:
        replies = run_async(_replies(settings, chat, text, candidates))
    except NotFound as exc:
        fail(str(exc))
    except ModelServiceError as exc:
        fail(str(exc), code=1)
    for i, messages in enumerate(replies):
        if candidates > 1:
            console.print(f"--- candidate {i + 1}", markup=False, highlight=False, style="dim")
        for message in messages or ["(no reply)"]:
            console.print(message, markup=False, highlight=False)


async def _replies(settings: Settings, chat_id: int, text: str, n: int) -> list[list[str]]:
    from bot.context import chat_dialogue
    from model.service import ModelService
    from storage import Database
    from storage import training as training_queries

    async with Database.open(settings.db_path) as db:
        dialogue = await chat_dialogue(db, settings, chat_id, text)
        promoted = await training_queries.promoted_adapter(db)
    async with ModelService(settings, adapter_dir=promoted.path if promoted else None) as service:
        await service.wait_ready()  # a first start may convert the bundled model: no time limit here
        adapter_error = service.status().adapter_error
        if adapter_error:
            console.print(f"note: {adapter_error}; using the base model", markup=False, highlight=False, style="yellow")
        return (await service.candidates(dialogue, n)).replies


def _is_unicode(text: str) -> bool:
    """Python decodes undecodable argv bytes (`$'\\xff'`) into lone surrogates; no tokenizer takes them."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
