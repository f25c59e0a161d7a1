"""`GET /api/status`: counts, the global switch, model, Telegram, training and schedule."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from admin_ui.deps import ServicesDep
from application.overview import snapshot
from application.status import SchedulerState, StatusCounts, TelegramState, TrainingState
from model.status import ModelStatus
from training.data.coverage import Coverage
from training.data.preference_pairs import PreferencePairCounts

router = APIRouter(tags=["status"])


class StatusOut(BaseModel):
    """`application.status.StatusSnapshot` as the API shows it (the same nested dataclasses, without the
    owner id and the database path)."""

    counts: StatusCounts
    autoreply_enabled: bool
    model: ModelStatus
    adapter: str | None
    telegram: TelegramState
    training: TrainingState
    scheduler: SchedulerState
    preference_pairs: PreferencePairCounts
    coverage: Coverage | None


@router.get("/status", response_model=StatusOut,
            summary="Counts, global auto-reply state, model, training, scheduler, preference pairs, coverage")
async def get_status(services: ServicesDep) -> dict[str, Any]:
    return (await snapshot(services)).as_dict()
