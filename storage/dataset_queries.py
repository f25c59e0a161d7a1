"""Reads the training pipeline needs: every chat, a chat's whole live history, owner-message counts.

The twin must not train on its own words: owner turns that contain a bot-authored message (sent
automatically, or a draft the owner sent unchanged) are left out of the history training reads,
together with the partner turn they answered. Why the partner turn too: dropping only the bot's
messages would glue the partner's messages before and after it into one partner turn, and the
owner's next (real) answer would be trained as the answer to a question it never followed. Dropping
the exchange instead leaves every remaining partner turn followed by the owner's real answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from storage.chats import _chat
from storage.db import Database
from storage.messages import _message
from storage.rows import ChatRow, MessageRow


@dataclass(frozen=True, slots=True)
class TrainingHistory:
    """A chat's history as training may use it, and how many bot-authored messages were left out."""

    messages: tuple[MessageRow, ...]
    excluded_bot_messages: int
    """Outgoing messages the bot wrote (or drafted and the owner sent unchanged) that were dropped."""
    excluded_context_messages: int
    """Other messages dropped with them: the partner turn they answered, owner messages in a mixed turn."""


def without_bot_turns(history: Sequence[MessageRow]) -> TrainingHistory:
    """Drop each owner turn that contains a bot-authored message, and the partner turn before it.

    A turn is a maximal run of messages from one side (`outgoing`), in time order. Pure.
    """
    turns: list[list[MessageRow]] = []
    for message in history:
        if turns and turns[-1][0].outgoing == message.outgoing:
            turns[-1].append(message)
        else:
            turns.append([message])
    drop: set[int] = set()
    for i, turn in enumerate(turns):
        if turn[0].outgoing and any(m.authored_by != "human" for m in turn):
            drop.add(i)
            if i > 0:
                drop.add(i - 1)  # the partner turn the bot answered
    kept = tuple(m for i, turn in enumerate(turns) if i not in drop for m in turn)
    dropped = [m for i in drop for m in turns[i]]
    bot = sum(1 for m in dropped if m.authored_by != "human")
    return TrainingHistory(kept, bot, len(dropped) - bot)


async def all_chats(db: Database) -> list[ChatRow]:
    """Every chat, by id (no search, no limit: dataset building needs them all)."""
    return [_chat(r) for r in await db.fetchall("SELECT * FROM chats ORDER BY id")]


async def training_history(db: Database, chat_id: int) -> TrainingHistory:
    """A chat's live (not deleted) messages in time order, without the bot's own turns."""
    rows = await db.fetchall(
        "SELECT * FROM messages WHERE chat_id = ? AND deleted = 0 ORDER BY date, message_id", (chat_id,)
    )
    return without_bot_turns([_message(r) for r in rows])


async def chat_history(db: Database, chat_id: int) -> list[MessageRow]:
    """`training_history`'s messages (what dataset building reads)."""
    return list((await training_history(db, chat_id)).messages)


async def owner_message_count(db: Database) -> int:
    """Live owner-written messages in all chats (the scheduler compares it with the last run's count);
    the bot's own messages are not new training data."""
    return int(await db.scalar(
        "SELECT COUNT(*) FROM messages WHERE outgoing = 1 AND deleted = 0 AND authored_by = 'human'"
    ) or 0)
