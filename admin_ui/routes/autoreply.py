"""`PUT /api/autoreply`: the global auto-reply switch (an emergency stop over every chat's mode)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, StrictBool

from admin_ui.deps import ServicesDep
from application.overview import set_autoreply

router = APIRouter(tags=["autoreply"])


class AutoreplyIn(BaseModel):
    enabled: StrictBool


class AutoreplyOut(BaseModel):
    enabled: bool


@router.put("/autoreply", response_model=AutoreplyOut, summary="Turn auto-replies on or off everywhere")
async def put_autoreply(body: AutoreplyIn, services: ServicesDep) -> AutoreplyOut:
    return AutoreplyOut(enabled=await set_autoreply(services, body.enabled))
