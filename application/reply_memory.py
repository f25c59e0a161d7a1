"""Why this reply: the memory a reply's prompt held, or why it held none, for the panel and the API.

A reply made now (the Playground, a suggested draft) shows the recollections its prompt held after
the cut to the window, as the prompt had them (redacted like training data). A stored draft shows
the messages its `memory_message_ids` name, read back from its chat now: an edited message shows its
new text, a deleted one shows as deleted. Texts are for the owner's own panel; the REST API returns
ids and dates only, as it returns no stored chat message anywhere else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from memory import memory_withheld
from model.candidates import ChosenReplies
from model.dialogue import Dialogue, Recollection, message_text
from services import Services
from storage import MessageRow, NotFound
from storage import chats as chat_queries
from storage import messages as message_queries
from storage.replies import Draft

NoMemoryReason = Literal[
    "memory_off", "chat_off", "chat_unknown", "no_chat", "format_without_memory", "nothing_relevant", "cut_to_fit",
    "none_recorded", "not_recorded",
]

NO_MEMORY_REASONS: dict[NoMemoryReason, str] = {
    "memory_off": "memory is off (TGTWIN_MEMORY_ENABLED=false)",
    "chat_off": "the chat's reply mode is off, and an off chat gives no memory to prompts",
    "chat_unknown": "the chat is not stored",
    "no_chat": "no chat chosen: memory comes from a stored chat's earlier messages",
    "format_without_memory": "the served adapter was trained without memory (its prompt has no memory block)",
    "nothing_relevant": "nothing in the chat's earlier messages matched the message answered",
    "cut_to_fit": "what memory recalled did not fit the prompt's token cap",
    "none_recorded": "nothing relevant was found, or it did not fit the prompt",
    "not_recorded": "not recorded (a draft from before memory)",
}
"""Each reason as one line for the owner (the panel, and the API's `note`)."""

OWNER_LABEL = "Me"


@dataclass(frozen=True, slots=True)
class RecalledExchange:
    """An earlier exchange the prompt held: when, its lines, and which stored messages it holds."""

    date: int
    lines: tuple[str, ...]
    """`Speaker: text`, one per message; a message deleted since shows as `Speaker: (deleted)`."""
    message_ids: tuple[int, ...]
    deleted_ids: tuple[int, ...] = ()
    """Messages deleted (or no longer stored) since the reply was made (stored drafts only)."""


@dataclass(frozen=True, slots=True)
class MemoryUsed:
    """What memory a reply's prompt held ("why this reply"), or why it held none."""

    exchanges: tuple[RecalledExchange, ...] = ()
    reason: NoMemoryReason | None = None
    """Why there is no memory; None when there is."""
    reason_as_of_now: bool = False
    """The reason was read from today's setting, chat mode and served adapter, not recorded with
    the reply (a stored draft records only the ids it used)."""

    @property
    def message_ids(self) -> list[int]:
        return [message_id for exchange in self.exchanges for message_id in exchange.message_ids]

    @property
    def note(self) -> str:
        """One line: how much memory, or why none."""
        if self.reason is None:
            count, exchanges = len(self.message_ids), len(self.exchanges)
            return (f"memory: {count} message{'s' * (count != 1)} from {exchanges} earlier "
                    f"exchange{'s' * (exchanges != 1)} of this chat")
        return f"no memory: {NO_MEMORY_REASONS[self.reason]}" + (" (as things stand now)" * self.reason_as_of_now)


def _recalled(recollection: Recollection, partner_name: str | None) -> RecalledExchange:
    lines = tuple(f"{OWNER_LABEL if turn.role == 'owner' else turn.speaker or partner_name or 'Partner'}: {text}"
                  for turn in recollection.turns for text in turn.messages)
    return RecalledExchange(recollection.date, lines, recollection.message_ids)


async def memory_of_reply(services: Services, chat_id: int | None, dialogue: Dialogue,
                          chosen: ChosenReplies) -> MemoryUsed:
    """The memory the prompt of a reply made now held (`chosen.memory`), or why none: `dialogue` is
    what was asked (with what memory recalled), `chat_id` the chat memory came from (None: none)."""
    if chosen.memory:
        return MemoryUsed(tuple(_recalled(r, dialogue.partner_name) for r in chosen.memory))
    reason: NoMemoryReason
    if chat_id is None:
        reason = "no_chat"
    elif withheld := await memory_withheld(services.db, services.settings, chat_id, live=True):
        reason = withheld
    elif not chosen.format_memory:
        reason = "format_without_memory"
    else:
        reason = "cut_to_fit" if dialogue.memory else "nothing_relevant"
    return MemoryUsed(reason=reason)


async def memory_of_draft(services: Services, draft: Draft) -> MemoryUsed:
    """The memory a stored draft's prompt held, read back from its chat (`memory_message_ids`).
    Without any, the reason is told from the state now where it can be (memory off, the chat off,
    an adapter without memory served)."""
    ids = draft.memory_message_ids
    if ids is None:
        return MemoryUsed(reason="not_recorded")
    db = services.db
    if ids:
        try:
            title = (await chat_queries.get_chat(db, draft.chat_id)).title or None
        except NotFound:
            title = None
        rows = [(message_id, await message_queries.get_message(db, draft.chat_id, message_id)) for message_id in ids]
        return MemoryUsed(_exchanges(rows, title, services.settings.session_gap_minutes * 60))
    if withheld := await memory_withheld(db, services.settings, draft.chat_id, live=True):
        return MemoryUsed(reason=withheld, reason_as_of_now=True)
    if services.model.status().prompt_memory is False:
        return MemoryUsed(reason="format_without_memory", reason_as_of_now=True)
    return MemoryUsed(reason="none_recorded")


def _exchanges(rows: Sequence[tuple[int, MessageRow | None]], partner_name: str | None,
               gap_seconds: int) -> tuple[RecalledExchange, ...]:
    """Recorded messages (in recorded order: oldest recollection first, each in time order) → the
    exchanges shown: a new one wherever a silence longer than the session gap lies between two."""
    groups: list[list[tuple[int, MessageRow | None]]] = []
    last_date: int | None = None
    for message_id, row in rows:
        if not groups or (row is not None and last_date is not None and row.date - last_date > gap_seconds):
            groups.append([])
        groups[-1].append((message_id, row))
        last_date = row.date if row is not None else last_date
    return tuple(_stored_exchange(group, partner_name) for group in groups)


def _stored_exchange(group: Sequence[tuple[int, MessageRow | None]], partner_name: str | None) -> RecalledExchange:
    lines, deleted = [], []
    for message_id, row in group:
        if row is None or row.deleted:
            deleted.append(message_id)
        speaker = "?" if row is None else OWNER_LABEL if row.outgoing else row.sender_name or partner_name or "Partner"
        text = "(deleted)" if row is None or row.deleted else message_text(row) or ""
        lines.append(f"{speaker}: {text}")
    date = next((row.date for _, row in group if row is not None), 0)
    return RecalledExchange(date, tuple(lines), tuple(m for m, _ in group), tuple(deleted))
