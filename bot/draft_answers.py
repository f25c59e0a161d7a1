"""The owner answers a pending draft from Telegram: the one rule that closes such a draft.

The panel closes the drafts it sends itself (`application.drafting`). A message the owner sends from
Telegram (the phone, the desktop app) reaches us as an update instead, and in a chat with a pending
draft it is the answer to it, the draft's text having sat in the chat's input box:

- the same words (`bot.authorship.is_unchanged_draft`): the draft is `sent` and the messages are the
  bot's (`draft_unchanged`: never a training target);
- other words: the draft is `sent` with `sent_text` = what the owner wrote, so it is an *edited*
  preference pair (`training.data.preference_pairs`), and the messages stay the owner's.

Only the newest pending draft is in the input box (each suggestion replaces the last); older pending
ones of the chat are discarded. An answer may take several messages: later ones of the same owner
turn (before the partner writes again, within the session gap) extend `sent_text` and the verdict
is taken again. That turn is remembered in memory only: after a restart its first messages stand.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.authorship import is_unchanged_draft
from model.dialogue import join_messages
from storage import Database
from storage import messages as message_queries
from storage import replies as reply_queries
from storage.replies import Draft

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _OwnerTurn:
    draft: Draft
    message_ids: list[int]
    texts: list[str]
    last_date: int


class DraftAnswers:
    """Matches the owner's messages from Telegram to the chat's pending draft. `owner_sent` must run
    inside the transaction that stores the message, so a crash cannot store one without the other."""

    def __init__(self, db: Database, session_gap_seconds: int) -> None:
        self.db, self.session_gap_seconds = db, session_gap_seconds
        self._turns: dict[int, _OwnerTurn] = {}

    def partner_spoke(self, chat_id: int) -> None:
        """Someone else wrote in the chat: the owner's answer turn there is over."""
        self._turns.pop(chat_id, None)

    async def owner_sent(self, chat_id: int, message_id: int, text: str, date: int) -> None:
        """The owner's new message (seen for the first time, written by them: not forwarded)."""
        if not text.strip():
            return  # media without a caption answers nothing a draft said
        pending = await reply_queries.pending_drafts(self.db, chat_id)
        turn = self._turns.get(chat_id)
        if pending:
            newest, *replaced = pending
            for draft in replaced:
                await reply_queries.close_draft(self.db, draft.id, "discarded")
            turn = self._turns[chat_id] = _OwnerTurn(newest, [message_id], [text], date)
        elif turn is not None and date - turn.last_date <= self.session_gap_seconds:
            turn.message_ids.append(message_id)
            turn.texts.append(text)
            turn.last_date = date
        else:
            self._turns.pop(chat_id, None)
            return
        unchanged = is_unchanged_draft(turn.draft.text, turn.texts)
        sent_text = turn.draft.text if unchanged else join_messages(turn.texts)
        await message_queries.mark_authored(self.db, chat_id, turn.message_ids,
                                            "draft_unchanged" if unchanged else "human")
        if pending:
            await reply_queries.close_draft(self.db, turn.draft.id, "sent", sent_text=sent_text)
        else:
            await reply_queries.revise_sent_text(self.db, turn.draft.id, sent_text)
        log.info("live sync: chat %s message %s answers draft %s (%s)", chat_id, message_id, turn.draft.id,
                 "unchanged" if unchanged else "edited")
