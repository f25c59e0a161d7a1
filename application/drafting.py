"""Suggested replies: drafts for stored chats, and the playground's composed dialogues.

Drafts are stored like the bot stores them: the reply's Telegram messages joined with the dialogue
separator (`model.dialogue.join_messages`). The owner sees and edits them one message per line, and
the Telegram input box gets them the same way. Both the model's text and what the owner sent are
kept (`drafts.text` / `drafts.sent_text`): an edit is a preference pair for later training.

Every reply made here comes with the memory its prompt held (`application.reply_memory`); a draft
records its ids, as the bot's drafts do.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from application.errors import DraftClosed, InvalidDialogue, ModelFailed, TelegramFailed, TelegramUnavailable
from application.overview import telegram_connected
from application.reply_memory import MemoryUsed, memory_of_reply
from memory import recall, recalled_message_ids
from model.candidates import ChosenReplies
from model.dialogue import Dialogue, Turn, clean_text, join_messages, split_reply
from services import Services
from storage import InvalidValue
from storage import chats as chat_queries
from storage import replies as reply_queries
from storage.replies import Draft

log = logging.getLogger(__name__)

Speaker = Literal["partner", "owner"]
MAX_CANDIDATES = 6


def _send_lock(services: Services) -> asyncio.Lock:
    """Sending is check, send, close: one lock per running app keeps two clicks from sending twice."""
    return services.draft_send_lock


def clean_messages(messages: Sequence[str]) -> list[str]:
    return [m for m in (clean_text(m) for m in messages) if m]


def stored_text(messages: Sequence[str]) -> str:
    """Messages → the stored draft text (the bot's format)."""
    return join_messages(clean_messages(messages))


def draft_messages(stored: str) -> list[str]:
    """A stored draft text → its messages."""
    return split_reply(stored)


def editable_text(messages: Sequence[str]) -> str:
    """Messages → what the owner edits (and the Telegram input box shows): one message per line."""
    return "\n".join(clean_messages(messages))


def edited_messages(text: str) -> list[str]:
    """The owner's edited text → the messages to send (one per non-empty line)."""
    return clean_messages(text.splitlines())


async def _generate(services: Services, dialogue: Dialogue, n: int = 1) -> ChosenReplies:
    """Up to `n` replies and the memory their prompt held; `ModelFailed` when the model fails or
    says nothing."""
    try:
        chosen = await services.model.candidates(dialogue, n)
    except Exception as exc:  # any backend failure is reported the same way: the model is unavailable
        log.warning("model reply failed: %s", type(exc).__name__)
        raise ModelFailed(f"the model could not produce a reply ({type(exc).__name__})") from exc
    if not any(m.strip() for reply in chosen.replies for m in reply):
        raise ModelFailed("the model produced an empty reply; try again")
    return chosen


@dataclass(slots=True)
class Suggestion:
    draft: Draft
    telegram_draft_saved: bool
    memory: MemoryUsed
    """What memory the suggestion's prompt held, or why none."""


async def suggest_draft(services: Services, chat_id: int, message: str | None = None) -> Suggestion:
    """Answer `chat_id` from its stored history (plus an optional new partner message), store the
    suggestion as a pending draft, and put it into the chat's Telegram input box when connected.
    The same context the bot uses (bot.context.chat_dialogue), minus sending."""
    from bot.context import chat_dialogue

    dialogue = await chat_dialogue(services.db, services.settings, chat_id, message)
    if not dialogue.turns:
        raise InvalidDialogue(f"chat {chat_id} has no recent messages to answer; pass `message`")
    chosen = await _generate(services, dialogue)
    messages = chosen.replies[0]
    draft = await reply_queries.create_draft(services.db, chat_id, stored_text(messages),
                                             memory_message_ids=recalled_message_ids(chosen.memory))
    saved = False
    if telegram_connected(services):
        assert services.telegram is not None
        try:
            await services.telegram.save_draft(chat_id, editable_text(messages))
            saved = True
        except Exception as exc:  # the stored draft is the result; the input box is a convenience
            log.warning("saving draft %s to Telegram chat %s failed: %s", draft.id, chat_id, type(exc).__name__)
    log.info("draft %s suggested for chat %s (memory: %d messages)", draft.id, chat_id,
             len(draft.memory_message_ids or ()))
    return Suggestion(draft, saved, await memory_of_reply(services, chat_id, dialogue, chosen))


async def _pending(services: Services, draft_id: int) -> Draft:
    draft = await reply_queries.get_draft(services.db, draft_id)
    if draft.status != "pending":
        raise DraftClosed(f"draft {draft_id} is already {draft.status}")
    return draft


async def send_draft(services: Services, draft_id: int, messages: Sequence[str] | None = None) -> Draft:
    """Send a pending draft as the owner, optionally edited (`messages`); keeps both texts and logs it."""
    async with _send_lock(services):
        draft = await _pending(services, draft_id)
        original = draft_messages(draft.text)
        messages = original if messages is None else clean_messages(messages)
        if not messages:
            raise InvalidDialogue("the text to send is empty")
        if not telegram_connected(services):
            raise TelegramUnavailable("send a draft")
        assert services.telegram is not None
        try:
            sent_ids = await services.telegram.send_messages(draft.chat_id, messages)
        except Exception as exc:  # kurigram raises many RPC errors; the owner needs the kind, not a 500
            log.warning("sending draft %s to chat %s failed: %s", draft_id, draft.chat_id, type(exc).__name__)
            raise TelegramFailed(
                f"Telegram did not take the message ({type(exc).__name__}); the draft stays pending"
            ) from exc
        try:
            closed = await reply_queries.close_draft(services.db, draft_id, "sent", sent_text=stored_text(messages))
        except InvalidValue as exc:  # closed elsewhere (the bot) between our check and now
            raise DraftClosed(str(exc)) from exc
        await _clear_input_box(services, draft.chat_id)
        edited = messages != original
        await reply_queries.log_decision(
            services.db, draft.chat_id, draft.trigger_message_id, "answered",
            f"draft {draft_id} sent from the panel" + (" (edited)" if edited else ""), sent_ids,
            draft.memory_message_ids,
        )
        log.info("draft %s sent to chat %s (%d messages, edited=%s)", draft_id, draft.chat_id, len(sent_ids), edited)
        return closed


async def _clear_input_box(services: Services, chat_id: int) -> None:
    """The suggestion also sat in the chat's Telegram input box; once sent, an empty draft clears it
    so the owner cannot send it a second time from the phone."""
    assert services.telegram is not None
    try:
        await services.telegram.save_draft(chat_id, "")
    except Exception as exc:  # the message is sent; a stale input box is only a nuisance
        log.warning("clearing the Telegram draft of chat %s failed: %s", chat_id, type(exc).__name__)


async def discard_draft(services: Services, draft_id: int) -> Draft:
    await _pending(services, draft_id)
    try:
        return await reply_queries.close_draft(services.db, draft_id, "discarded")
    except InvalidValue as exc:
        raise DraftClosed(str(exc)) from exc


def compose_dialogue(
    messages: Sequence[tuple[Speaker, str]], relationship: str | None = None, partner_name: str | None = None
) -> Dialogue:
    """Playground messages (speaker, text), oldest first → a Dialogue; consecutive messages of one
    side merge into one turn, as in stored chats. Must end with the partner (the model answers it)."""
    turns: list[Turn] = []
    for speaker, raw in messages:
        text = clean_text(raw)
        if not text:
            continue
        if turns and turns[-1].role == speaker:
            turns[-1] = Turn(speaker, turns[-1].messages + (text,))
        else:
            turns.append(Turn(speaker, (text,)))
    if not turns:
        raise InvalidDialogue("the dialogue has no messages")
    if turns[-1].role != "partner":
        raise InvalidDialogue("the last message must be from the partner: the model answers it")
    relationship = (relationship or "").strip() or None
    return Dialogue(turns=tuple(turns), partner_name=partner_name or None, relationship=relationship)


@dataclass(frozen=True, slots=True)
class Candidates:
    """The playground's replies, best first, and what memory their prompt held."""

    replies: list[list[str]]
    memory: MemoryUsed


async def generate_candidates(services: Services, dialogue: Dialogue, n: int = 1,
                              memory_chat_id: int | None = None) -> Candidates:
    """`n` candidate replies (each a list of messages); n=1 is exactly what the bot would send.
    With `memory_chat_id`, the dialogue gets the memory that chat's stored history gives a live
    reply (`memory.recall`: that chat only, nothing when it is off, everything stored before now);
    storage.NotFound for an unknown chat."""
    if not 1 <= n <= MAX_CANDIDATES:
        raise InvalidDialogue(f"ask for 1 to {MAX_CANDIDATES} candidates")
    if memory_chat_id is not None:
        await chat_queries.get_chat(services.db, memory_chat_id)
        recalled = await recall(services.db, services.settings, memory_chat_id, dialogue.turns, int(time.time()))
        dialogue = replace(dialogue, memory=recalled)
    chosen = await _generate(services, dialogue, n)
    return Candidates(chosen.replies, await memory_of_reply(services, memory_chat_id, dialogue, chosen))
