"""`GET /api/status`: counts, the global switch, model, Telegram, training and schedule."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from admin_ui.deps import ServicesDep
from admin_ui.overview import snapshot
from model.status import ModelStatus

router = APIRouter(tags=["status"])


class CountsOut(BaseModel):
    chats: int
    messages: int
    owner_messages: int
    pending_drafts: int
    auto_chats: int
    draft_chats: int
    adapters: int


class TelegramOut(BaseModel):
    configured: bool
    connected: bool


class LastRunOut(BaseModel):
    id: int
    status: str
    progress: float
    adapter_id: str | None
    started_at: int
    finished_at: int | None
    error: str | None


class TrainingStateOut(BaseModel):
    available: bool
    running: bool
    last_run: LastRunOut | None
    processes: int


class PreferencePairsOut(BaseModel):
    total: int
    unused: int
    """Pairs no training run has learned from yet."""
    edited: int
    own_reply: int


class StatusOut(BaseModel):
    counts: CountsOut
    autoreply_enabled: bool
    model: ModelStatus
    adapter: str | None
    telegram: TelegramOut
    training: TrainingStateOut
    scheduler: dict[str, Any]
    preference_pairs: PreferencePairsOut


@router.get("/status", response_model=StatusOut,
            summary="Counts, global auto-reply state, model, training, scheduler, preference pairs")
async def get_status(services: ServicesDep) -> dict[str, Any]:
    return (await snapshot(services)).as_dict()
