"""The retrieval policy: which earlier exchanges of a chat memory recalls for a turn to answer.

For a context (the turns the model sees, ending with the partner's), the query is the partner's
last turn in it; the candidates are the same chat's live messages dated before `before_date` (live:
the context window's first message; training: the row's session start), ranked by BM25 with the
most recent first among equal scores (storage.memory_index). Each hit expands to its exchange
(memory.exchanges.exchange), overlapping exchanges merge, and recollections are taken in rank order
while they fit: at most `memory_max_recollections`, within `memory_max_tokens` together.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from typing import Literal

from memory.exchanges import TokenCounter, blocked, cost, estimate_tokens, exchange, merge, recollection
from model.dialogue import Recollection, Turn
from settings import Settings
from storage import Database, MessageRow, NotFound, memory_index
from storage import chats as chat_queries

log = logging.getLogger(__name__)

CANDIDATES_PER_RECOLLECTION = 8
"""Search hits read per recollection wanted: hits in an exchange already taken, or whose exchange
does not fit the budget, are passed over for the next."""
EXCHANGE_SPAN = 20
"""Messages read on each side of a hit to cut its exchange from (a longer turn is cut there)."""


Withheld = Literal["memory_off", "chat_off", "chat_unknown"]
"""Why the privacy rule's switches give a chat no memory: the setting is off, the chat's reply mode
is `off` (live prompts), the chat is not stored (live prompts)."""


async def memory_withheld(db: Database, settings: Settings, chat_id: int, live: bool) -> Withheld | None:
    """The privacy rule's switches: memory is off everywhere with `memory_enabled` off, and a chat
    whose reply mode is `off` (or that is not stored) gives nothing to live prompts. Training
    (`live=False`) learns from every chat it trains on, whatever its reply mode. None: allowed."""
    if not settings.memory_enabled:
        return "memory_off"
    if not live:
        return None
    try:
        return "chat_off" if (await chat_queries.get_chat(db, chat_id)).reply_mode == "off" else None
    except NotFound:
        return "chat_unknown"


def query_text(context: Sequence[Turn]) -> str:
    """What memory searches for: the partner's last turn in the context (all its messages)."""
    for turn in reversed(context):
        if turn.role == "partner":
            return turn.text
    return ""


async def recall(
    db: Database,
    settings: Settings,
    chat_id: int,
    context: Sequence[Turn],
    before_date: int,
    *,
    live: bool = True,
    count_tokens: TokenCounter | None = None,
    exclude_message_ids: Collection[int] = frozenset(),
) -> tuple[Recollection, ...]:
    """Earlier exchanges of chat `chat_id` relevant to the partner's last turn in `context`, oldest
    first, each made only of that chat's live messages dated before `before_date`.

    `live`: for a live prompt (a chat in mode `off` gets nothing); False for training rows.
    `count_tokens`: the model's token count of a text (default: `memory.exchanges.estimate_tokens`).
    `exclude_message_ids`: messages of this chat memory must not use (training: the held-out
    sessions), neither as hits nor inside an exchange.
    """
    if await memory_withheld(db, settings, chat_id, live) is not None:
        return ()
    text = query_text(context)
    wanted, budget = settings.memory_max_recollections, settings.memory_max_tokens
    hits = await memory_index.search(db, chat_id, text, before_date, wanted * CANDIDATES_PER_RECOLLECTION)
    gap_seconds = settings.session_gap_minutes * 60
    counter = count_tokens or estimate_tokens
    chosen: list[tuple[MessageRow, ...]] = []
    made: dict[tuple[int, ...], tuple[Recollection, int] | None] = {}

    def made_of(rows: tuple[MessageRow, ...]) -> tuple[Recollection, int] | None:
        """The recollection of an exchange and its cost, None where a blocked word drops it."""
        key = tuple(m.message_id for m in rows)
        if key not in made:
            memory = recollection(rows, gap_seconds, settings.redact_pii)
            made[key] = None if blocked(memory, settings.blocked_words) else (memory, cost(memory, counter))
        return made[key]

    for hit in hits:
        if len(chosen) >= wanted:
            break
        hit_id = hit.message.message_id
        if hit_id in exclude_message_ids or any(hit_id == m.message_id for ex in chosen for m in ex):
            continue
        around = await memory_index.messages_around(db, hit.message, before_date, EXCHANGE_SPAN)
        # The privacy rule's last check: storage read this chat only; nothing else passes here either.
        rows = exchange([m for m in around if m.chat_id == chat_id and m.message_id not in exclude_message_ids],
                        hit_id, gap_seconds)
        if not rows:
            continue
        ids = {m.message_id for m in rows}
        overlapping = [ex for ex in chosen if ids & {m.message_id for m in ex}]
        candidate = [ex for ex in chosen if ex not in overlapping] + [merge([*overlapping, rows])]
        made_all = [made_of(ex) for ex in candidate]
        if all(m is not None for m in made_all) and sum(m[1] for m in made_all if m) <= budget:
            chosen = candidate
    memories = sorted((m[0] for ex in chosen if (m := made_of(ex)) is not None), key=lambda r: r.date)
    log.debug("memory: chat %s, %d hits, %d recollections (%d messages)", chat_id, len(hits), len(memories),
              sum(len(r.message_ids) for r in memories))
    return tuple(memories)


def recalled_message_ids(memory: Sequence[Recollection]) -> list[int]:
    """Every message id of the recollections, in order: what the reply log and drafts record."""
    return [message_id for recollection in memory for message_id in recollection.message_ids]
