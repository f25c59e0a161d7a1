"""Catch-up from chat histories: what the server's difference could not give.

`updates.getDifference` (bot.runtime) replays what happened while we were away, but it can come up
short: with no saved update state (a fresh session) or after a long downtime ("too long", kurigram
then jumps ahead), after a `harvest` run while `run` was stopped (it moved the saved state past
updates nobody handled), or after a crash (the state was saved before the handlers ran). So once the
difference is handled, the last `RECENT_WINDOW` messages of each active chat are read and compared
with what is stored:

- messages newer than the newest stored one go through live sync's handler, like live ones (a
  longer gap is read in full);
- in the window that page covers, a stored message the server no longer has is marked deleted, and
  one the server has with a later edit date is stored again through live sync's edit handler.

Only a later edit date counts as an edit: a page read just before a live edit must not write the
older text back, and texts an export stored slightly differently are not rewritten at every start.
Older edits and deletions are out of reach (Telegram tells them only as updates). An empty history
changes nothing: a chat the account can no longer read is not a chat whose messages were deleted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot import convert
from bot.live import LiveSync
from storage import Database, MessageRow
from storage import messages as message_queries

if TYPE_CHECKING:
    from pyrogram import Client, types

log = logging.getLogger(__name__)

CATCH_UP_CHATS = 100  # chats read at each start and reconnect, whitelisted and most recent first
RECENT_WINDOW = 100  # messages per chat compared with the store: one history page


@dataclass(slots=True)
class HistoryCatchUp:
    """What reading the chats' histories found (counts of messages)."""

    missed: int = 0
    edited: int = 0
    deleted: int = 0

    @property
    def found_any(self) -> bool:
        return bool(self.missed or self.edited or self.deleted)


async def catch_up_from_history(client: "Client", db: Database, live: LiveSync) -> HistoryCatchUp:
    """Read each active chat's recent history; missed messages, edits and deletions are stored (see
    the module docstring). A chat Telegram refuses is logged and skipped; a FloodWait longer than
    kurigram sleeps through ends the catch-up (the next reconnect tries again)."""
    from pyrogram.errors import FloodWait, RPCError

    found = HistoryCatchUp()
    for chat_id in await message_queries.catch_up_chat_ids(db, CATCH_UP_CHATS):
        newest = await message_queries.newest_message_id(db, chat_id)
        if newest is None:
            continue
        try:
            await _catch_up_chat(client, db, live, chat_id, newest, found)
        except FloodWait:
            raise
        except RPCError as exc:
            log.warning("telegram: catch-up: chat %s skipped (%s)", chat_id, type(exc).__name__)
    return found


async def _catch_up_chat(client: "Client", db: Database, live: LiveSync, chat_id: int, newest: int,
                         found: HistoryCatchUp) -> None:
    recent = [m async for m in client.get_chat_history(chat_id, limit=RECENT_WINDOW)]  # newest first
    if not recent:
        return
    page_full = len(recent) == RECENT_WINDOW
    if page_full and recent[-1].id > newest:  # all new: more may lie between the page and our newest
        missed = [m async for m in client.get_chat_history(chat_id, min_id=newest + 1, reverse=True)]
    else:
        missed = [m for m in reversed(recent) if m.id > newest]
    for message in missed:
        if convert.is_storable(message) and await message_queries.get_message(db, chat_id, message.id) is None:
            await live.on_message(client, message)
            found.missed += 1
    # A full page covers its own span; a shorter one is the chat's whole history.
    low = recent[-1].id if page_full else 0
    on_server = {m.id: m for m in recent}
    stored = await message_queries.live_messages_between(db, chat_id, low, recent[0].id)
    gone = [row.message_id for row in stored if row.message_id not in on_server]
    if gone:
        async with db.atomic():
            found.deleted += await message_queries.mark_deleted(db, chat_id, gone)
        log.info("telegram: catch-up: chat %s: %s message(s) deleted meanwhile", chat_id, len(gone))
    for row in stored:
        message = on_server.get(row.message_id)
        if message is not None and _edited_since(message, row):
            await live.on_edited(client, message)
            found.edited += 1


def _edited_since(message: "types.Message", row: MessageRow) -> bool:
    """The server's copy was edited after the stored one."""
    if message.edit_date is None:
        return False
    return row.edited_at is None or int(message.edit_date.timestamp()) > row.edited_at
