"""The import: one transaction, rows in bounded chunks, chats and users merged, the owner recorded.

Why one transaction. Bad input (not JSON, truncated, wrong shapes, unknown owner) must leave the
database exactly as before, and a truncated file is only discovered at its end. So the whole
import runs inside one `db.atomic()` while the rows go in chunks: SQLite keeps only its page cache
in memory and spills the rest of the open transaction to the WAL file, so one transaction costs
disk, not RAM, and a failure anywhere rolls everything back. Inserts are idempotent
(`(chat_id, message_id)` already present → skipped), and the event loop is never blocked: the
reading happens ahead, in a thread or a process (`read_ahead`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

from storage import Database, kv
from storage import chats as chat_queries
from storage import messages as message_queries
from storage.rows import UserRow
from telegram_export.errors import ExportFormatError
from telegram_export.read_ahead import ReadAhead
from telegram_export.walker import ReadSummary

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ImportResult:
    owner_id: int
    chats: int = 0
    messages_added: int = 0
    messages_skipped: int = 0  # already in the database (re-import, or harvested before)
    service_skipped: int = 0  # joins, calls, pins…: not messages
    media_placeholders: int = 0
    chats_skipped: int = 0  # chat types this importer does not know
    texts_unreadable: int = 0  # neither `text` nor `text_entities`: stored with an empty text


def merge_user(stored: UserRow | None, incoming: UserRow, incoming_wins: bool) -> UserRow:
    """Field by field, a known value is never replaced by an absent one. Where both are known,
    `incoming_wins` decides: the export's own profile (personal_information) is the owner's word;
    a sender's display name ("First Last") is not a first name, so it only fills a gap."""
    if stored is None:
        return incoming

    def pick(old: str | None, new: str | None) -> str | None:
        if new is None:
            return old
        if old is None:
            return new
        return new if incoming_wins else old

    return UserRow(
        incoming.id, pick(stored.first_name, incoming.first_name), pick(stored.last_name, incoming.last_name),
        pick(stored.username, incoming.username), stored.is_bot or incoming.is_bot,
    )


async def _merged_users(db: Database, summary: ReadSummary) -> list[UserRow]:
    merged = []
    for user in summary.senders:
        if summary.profile is not None and user.id == summary.profile.id:
            continue
        merged.append(merge_user(await chat_queries.get_user(db, user.id), user, incoming_wins=False))
    if summary.profile is not None:
        merged.append(merge_user(await chat_queries.get_user(db, summary.profile.id), summary.profile, True))
    return merged


async def import_export(
    db: Database,
    path: Path,
    owner_id: int | None = None,
    progress: Callable[[int], None] | None = None,
    allowed_service_chats: Collection[int] = (),
) -> ImportResult:
    """Import one export file; `progress` gets the number of messages read so far.

    Raises ExportFormatError (database unchanged) on anything that is not a readable export; its
    message does not repeat `path` (the caller names the file).
    """
    path = Path(path)
    stored_owner = await kv.get_value(db, kv.OWNER_ID)
    reader = ReadAhead(path, owner_id, stored_owner, tuple(allowed_service_chats))
    added = rows = 0
    try:
        async with db.atomic():
            while True:
                kind, payload, chunk = await reader.next_item()
                if kind == "error":
                    raise payload
                if kind == "done":
                    summary: ReadSummary = payload
                    break
                added += await message_queries.insert_message_params(db, chunk)
                rows += len(chunk)
                if progress is not None:
                    progress(payload)
            await chat_queries.upsert_chats(db, summary.chats)
            await chat_queries.upsert_users(db, await _merged_users(db, summary))
            await kv.set_value(db, kv.OWNER_ID, summary.owner_id)
    except UnicodeEncodeError:  # a lone surrogate ("\ud800") decodes from JSON but is no UTF-8 text
        raise ExportFormatError("a text in the export holds a lone surrogate (not valid Unicode)") from None
    except OverflowError:  # a backstop: rows.py checks every integer it knows about
        raise ExportFormatError("a number in the export does not fit in 64 bits") from None
    finally:
        reader.close()
    for export_type in sorted(set(summary.skipped_chat_types)):
        log.warning("skipped chats of unknown export type %r", export_type)
    if summary.service_chats_skipped:
        log.info("skipped %d service chats and bots (never stored; TGTWIN_ALLOWED_SERVICE_CHATS keeps one)",
                 summary.service_chats_skipped)
    if summary.texts_unreadable:
        log.warning("%d messages had neither `text` nor `text_entities`: stored with an empty text",
                    summary.texts_unreadable)
    result = ImportResult(
        owner_id=summary.owner_id, chats=len(summary.chats), messages_added=added, messages_skipped=rows - added,
        service_skipped=summary.service_skipped, media_placeholders=summary.media_placeholders,
        chats_skipped=len(summary.skipped_chat_types) + summary.service_chats_skipped,
        texts_unreadable=summary.texts_unreadable,
    )
    log.info(
        "export imported: %d chats, %d messages added, %d already present, %d service skipped, %d media, "
        "%d unreadable texts", result.chats, result.messages_added, result.messages_skipped,
        result.service_skipped, result.media_placeholders, result.texts_unreadable,
    )
    return result
