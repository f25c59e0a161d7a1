"""`GET /health`: liveness for probes and humans; the one route without a token."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel

from admin_ui.deps import ServicesDep
from application.overview import telegram_connected
from model.status import ModelStatus

router = APIRouter(tags=["health"])


class HealthOut(BaseModel):
    status: Literal["ok"] = "ok"
    model: ModelStatus
    """The model backend's own status: base model, adapter, backend, device, state."""
    telegram_connected: bool


@router.get("/health", response_model=HealthOut, summary="Liveness, loaded model/adapter, Telegram state")
async def health(services: ServicesDep) -> HealthOut:
    return HealthOut(model=services.model.status(), telegram_connected=telegram_connected(services))
