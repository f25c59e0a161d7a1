"""Deterministic stand-ins for the model, the Telegram client and the training controller."""

from __future__ import annotations

from typing import Any

from model.candidates import ChosenReplies
from model.dialogue import Dialogue
from model.status import ModelStatus
from storage import Database
from storage import training as training_queries


class FakeModel:
    """Replies with a fixed shape derived from the last partner turn; records adapter swaps. Its
    prompt shows the dialogue's memory, as an adapter trained with memory would, keeping the newest
    `shown_memory` recollections (the rest cut to fit the window); `format_memory=False`: one
    trained without memory."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.format_memory = True
        self.shown_memory: int | None = None
        self.adapter: str | None = None
        self.dialogues: list[Dialogue] = []

    async def candidates(self, dialogue: Dialogue, n: int) -> ChosenReplies:
        """One reply: `sure` and an echo; several: numbered candidates."""
        if self.fail:
            raise TimeoutError("generation timed out")
        self.dialogues.append(dialogue)
        answered = f"re: {dialogue.turns[-1].messages[-1]}"
        replies = [["sure", answered]] if n == 1 else [[f"candidate {i + 1}", answered] for i in range(n)]
        kept = len(dialogue.memory) if self.shown_memory is None else self.shown_memory
        shown = dialogue.memory[len(dialogue.memory) - kept:] if self.format_memory and kept else ()
        return ChosenReplies(replies, shown, self.format_memory)

    async def swap_adapter(self, adapter_dir: str | None) -> None:
        self.adapter = adapter_dir

    def status(self) -> ModelStatus:
        return ModelStatus(backend="fake", state="ready", base_model="tiny", adapter_path=self.adapter, device="cpu",
                           prompt_memory=self.format_memory)


class FakeTelegram:
    def __init__(self, connected: bool = True) -> None:
        self._connected = connected
        self.sent: list[tuple[int, list[str]]] = []
        self.saved_drafts: list[tuple[int, str]] = []
        self.harvests = 0

    @property
    def connected(self) -> bool:
        return self._connected

    async def send_messages(self, chat_id: int, messages: list[str]) -> list[int]:
        self.sent.append((chat_id, list(messages)))
        start = 1000 + sum(len(m) for _, m in self.sent)
        return list(range(start, start + len(messages)))

    async def save_draft(self, chat_id: int, text: str) -> None:
        self.saved_drafts.append((chat_id, text))

    async def harvest(self, progress: Any = None) -> dict[str, int]:
        self.harvests += 1
        if progress is not None:
            progress(0.5, "half way")
        return {"chats": 2, "messages": 7}


class FakeTraining:
    """Records runs in storage like the real controller, without training anything."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.running = False
        self.started: list[tuple[str, str | None]] = []

    def is_running(self) -> bool:
        return self.running

    async def start_run(self, trigger: str, preset: str | None = None) -> int:
        self.started.append((trigger, preset))
        run = await training_queries.create_run(self.db, trigger, preset or "tiny")
        self.running = True
        return run.id
