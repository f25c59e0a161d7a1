"""The dialogue context for answering a chat now, built from stored history.

The one place live replies, drafts, the panel's "suggest" and `main.py reply` get their context,
using the same sessionisation and K as training (model.dialogue).
"""

from __future__ import annotations

from model.dialogue import Dialogue, Turn, clean_text, live_context
from settings import Settings
from storage import Database
from storage import chats as chat_queries
from storage import messages as message_queries

# Enough rows to fill K turns even when turns span several messages.
ROWS_PER_TURN = 8


async def chat_dialogue(
    db: Database, settings: Settings, chat_id: int, extra_message: str | None = None
) -> Dialogue:
    """The last session of `chat_id` (up to K turns), plus an optional new partner message.
    Unknown chat → storage.NotFound."""
    chat = await chat_queries.get_chat(db, chat_id)
    rows = await message_queries.recent_messages(db, chat_id, settings.context_turns * ROWS_PER_TURN)
    turns = list(live_context(rows, settings.context_turns, settings.session_gap_minutes * 60))
    is_group = chat.type in ("group", "supergroup", "channel")
    if extra_message and clean_text(extra_message):
        text = clean_text(extra_message)
        speaker = None if is_group else chat.title or None
        if turns and turns[-1].role == "partner" and not is_group:
            last = turns[-1]
            turns[-1] = Turn("partner", last.messages + (text,), last.speaker, last.date)
        else:
            turns.append(Turn("partner", (text,), speaker))
        turns = turns[-settings.context_turns:]
    return Dialogue(
        turns=tuple(turns),
        partner_name=None if is_group else (chat.title or None),
        relationship=chat.relationship,
        is_group=is_group,
    )
