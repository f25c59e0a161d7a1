"""`GET /api/replies`: the reply log — every auto-reply decision with its reason."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from admin_ui.deps import ServicesDep
from admin_ui.routes.params import ChatIdQuery, UnixTimeQuery
from application import records
from storage.replies import ReplyLogEntry

router = APIRouter(tags=["replies"])


@router.get("/replies", response_model=list[ReplyLogEntry], summary="The reply log with reasons, newest first")
async def list_replies(
    services: ServicesDep,
    chat_id: ChatIdQuery = None,
    since: UnixTimeQuery = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 200,
) -> list[ReplyLogEntry]:
    return await records.decisions(services, chat_id, limit, since)
