"""The contracts between packages, and the container the composition root
(`application/runtime.py`) fills and hands to the bot and the panel.

Each package codes against these protocols, not against each other's classes, so tests can pass
fakes and the composition root can swap implementations (e.g. the `openai` model backend). This
module sits below the domain, not in `application/`: `bot` and `training` code against it, and the
domain never imports the application (docs/architecture.md).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from model.candidates import ChosenReplies
from model.dialogue import Dialogue
from model.status import ModelStatus
from settings import Settings
from storage import Database


class ReplyModel(Protocol):
    """What the bot and the panel need from a model (implemented by model.service.ModelService)."""

    async def candidates(self, dialogue: Dialogue, n: int) -> ChosenReplies:
        """Up to `n` replies, best first, and the memory their prompt showed: the dialogue's
        recollections left after the cut to the window, none when the served format has no memory."""

    async def swap_adapter(self, adapter_dir: str | None) -> None:
        """Serve this adapter (None = base model) from the next request on; atomic."""

    def status(self) -> ModelStatus:
        """What is loaded: base model, adapter, backend, device, state (loading/ready/error)."""


class TelegramGateway(Protocol):
    """What the panel needs from the live Telegram client (implemented in bot/)."""

    @property
    def connected(self) -> bool: ...

    async def send_messages(self, chat_id: int, messages: list[str]) -> list[int]:
        """Send as the owner; returns the new message ids."""

    async def save_draft(self, chat_id: int, text: str) -> None:
        """Put text in the chat's input box (messages.saveDraft)."""


class TrainingController(Protocol):
    """Starts and watches training runs (implemented in training/)."""

    def is_running(self) -> bool: ...

    async def start_run(self, trigger: str, preset: str | None = None) -> int:
        """Start a run in the background; returns its id. Raises if one is already running."""


class RetrainScheduleView(Protocol):
    """What the status snapshot reads from the running retrain schedule (training.runs.schedule.RetrainSchedule)."""

    @property
    def next_run_time(self) -> datetime | None: ...


@dataclass
class Services:
    """Everything long-lived, built by `application.runtime.run_product`; `telegram` is None when running offline."""

    settings: Settings
    db: Database
    model: ReplyModel
    training: TrainingController | None = None
    telegram: TelegramGateway | None = None
    schedule: RetrainScheduleView | None = None
    """The running retrain schedule (None where this process runs none)."""
    draft_send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Sending a draft is check, send, close: one lock per running app keeps two clicks from sending twice."""
