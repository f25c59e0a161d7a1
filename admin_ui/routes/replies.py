"""`GET /api/replies`: the reply log — every auto-reply decision with its reason."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from admin_ui import records
from admin_ui.deps import ServicesDep
from admin_ui.routes.params import ChatIdQuery, UnixTimeQuery
from storage.replies import Decision

router = APIRouter(tags=["replies"])


class ReplyLogOut(BaseModel):
    id: int
    chat_id: int
    message_id: int | None
    decision: Decision
    reason: str
    sent_message_ids: list[int]
    created_at: int


@router.get("/replies", response_model=list[ReplyLogOut], summary="The reply log with reasons, newest first")
async def list_replies(
    services: ServicesDep,
    chat_id: ChatIdQuery = None,
    since: UnixTimeQuery = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 200,
) -> list[ReplyLogOut]:
    entries = await records.decisions(services, chat_id, limit, since)
    return [ReplyLogOut(**{n: getattr(e, n) for n in ReplyLogOut.model_fields}) for e in entries]
