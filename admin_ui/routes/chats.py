"""`/api/chats`: the whitelist and per-chat settings (reply mode, relationship tag, training opt-in)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, StrictBool, field_validator

from admin_ui.deps import ServicesDep
from admin_ui.errors import error_responses
from admin_ui.routes.params import ChatIdPath
from application import chats
from application.chats import ChatDetail, ChatView
from storage import ReplyMode

router = APIRouter(prefix="/chats", tags=["chats"])


class ChatSettingsIn(BaseModel):
    """Fields left out stay as they are; `relationship: null` clears the tag."""

    mode: ReplyMode | None = None
    relationship: str | None = Field(None, max_length=40, description="friend, family, work… (goes into the prompt)")
    train: StrictBool | None = Field(None, description="Use this chat for training (null: default by chat type).")

    @field_validator("relationship")
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        return (value or "").strip() or None


@router.get("", response_model=list[ChatView], summary="Chats with settings and message counts")
async def list_chats(
    services: ServicesDep,
    search: Annotated[str, Query(max_length=100, description="Part of the chat title.")] = "",
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[ChatView]:
    return await chats.chat_list(services, search, limit)


@router.get("/{chat_id}", response_model=ChatDetail, summary="One chat with its stats",
            responses=error_responses(404))
async def get_chat(chat_id: ChatIdPath, services: ServicesDep) -> ChatDetail:
    return await chats.chat_detail(services, chat_id)


@router.put("/{chat_id}", response_model=ChatDetail, summary="Set reply mode / relationship / training opt-in",
            responses=error_responses(404))
async def put_chat(chat_id: ChatIdPath, body: ChatSettingsIn, services: ServicesDep) -> ChatDetail:
    # Only what the body names changes: `relationship: null` clears, a missing key keeps.
    changes: dict[str, Any] = {n: getattr(body, n) for n in ("relationship", "train") if n in body.model_fields_set}
    await chats.update_chat(services, chat_id, mode=body.mode, **changes)
    return await chats.chat_detail(services, chat_id)


@router.post("/{chat_id}/relationship/confirm", response_model=ChatDetail,
             summary="Accept the suggested relationship (it becomes the chat's relationship)",
             responses=error_responses(404, 422))
async def confirm_relationship(chat_id: ChatIdPath, services: ServicesDep) -> ChatDetail:
    """404: no such chat; 422: the chat has no suggestion to confirm (nothing changes)."""
    await chats.confirm_relationship(services, chat_id)
    return await chats.chat_detail(services, chat_id)
