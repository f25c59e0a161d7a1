"""A synthetic export read back the way the product sees it: the importer's rows per chat, and the
sessions the dataset cuts them into with the default settings."""

from __future__ import annotations

import json
from pathlib import Path

from model.dialogue import Turn, split_sessions
from settings import Settings
from storage import MessageRow
from telegram_export.rows import message_row
from testdata.conversations import OWNER_ID

SESSION_GAP_SECONDS = Settings.model_fields["session_gap_minutes"].default * 60
CONTEXT_TURNS = Settings.model_fields["context_turns"].default


def chat_rows(path: Path) -> dict[int, list[MessageRow]]:
    """Export chat id → its messages as the importer stores them (service messages left out)."""
    chats = json.loads(path.read_text(encoding="utf-8"))["chats"]["list"]
    return {chat["id"]: [row for m in chat["messages"] if (row := message_row(m, chat["id"], OWNER_ID))]
            for chat in chats}


def chat_sessions(rows: list[MessageRow]) -> list[list[Turn]]:
    """One chat's sessions of turns, cut at the default session gap."""
    return split_sessions(rows, SESSION_GAP_SECONDS)
