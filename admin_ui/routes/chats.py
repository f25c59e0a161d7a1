"""`/api/chats`: the whitelist and per-chat settings (reply mode, relationship tag, training opt-in)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, StrictBool, field_validator

from admin_ui import records
from admin_ui.deps import ServicesDep
from admin_ui.errors import error_responses
from admin_ui.overview import chat_detail, chat_list
from admin_ui.routes.params import ChatIdPath
from storage import ChatType, ReplyMode

router = APIRouter(prefix="/chats", tags=["chats"])


class ChatOut(BaseModel):
    id: int
    type: ChatType
    title: str
    mode: ReplyMode
    relationship: str | None
    train: bool | None
    relationship_suggestion: str | None = Field(
        description="Suggested from Telegram's data; not used until confirmed (or automatic use is on).")
    relationship_reason: str | None = Field(description="Why it was suggested.")
    messages: int
    owner_messages: int


class ChatDetailOut(ChatOut):
    last_message_at: int | None
    decisions: dict[str, int] = Field(description="Reply-log decisions in this chat: answered/drafted/skipped/error.")
    pending_drafts: int


class ChatSettingsIn(BaseModel):
    """Fields left out stay as they are; `relationship: null` clears the tag."""

    mode: ReplyMode | None = None
    relationship: str | None = Field(None, max_length=40, description="friend, family, work… (goes into the prompt)")
    train: StrictBool | None = Field(None, description="Use this chat for training (null: default by chat type).")

    @field_validator("relationship")
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        return (value or "").strip() or None


@router.get("", response_model=list[ChatOut], summary="Chats with settings and message counts")
async def list_chats(
    services: ServicesDep,
    search: Annotated[str, Query(max_length=100, description="Part of the chat title.")] = "",
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[dict[str, Any]]:
    return await chat_list(services, search, limit)


@router.get("/{chat_id}", response_model=ChatDetailOut, summary="One chat with its stats",
            responses=error_responses(404))
async def get_chat(chat_id: ChatIdPath, services: ServicesDep) -> dict[str, Any]:
    return await chat_detail(services, chat_id)


@router.put("/{chat_id}", response_model=ChatDetailOut, summary="Set reply mode / relationship / training opt-in",
            responses=error_responses(404))
async def put_chat(chat_id: ChatIdPath, body: ChatSettingsIn, services: ServicesDep) -> dict[str, Any]:
    # Only what the body names changes: `relationship: null` clears, a missing key keeps.
    changes: dict[str, Any] = {n: getattr(body, n) for n in ("relationship", "train") if n in body.model_fields_set}
    await records.update_chat(services, chat_id, mode=body.mode, **changes)
    return await chat_detail(services, chat_id)


@router.post("/{chat_id}/relationship/confirm", response_model=ChatDetailOut,
             summary="Accept the suggested relationship (it becomes the chat's relationship)",
             responses=error_responses(404, 422))
async def confirm_relationship(chat_id: ChatIdPath, services: ServicesDep) -> dict[str, Any]:
    """404: no such chat; 422: the chat has no suggestion to confirm (nothing changes)."""
    await records.confirm_relationship(services, chat_id)
    return await chat_detail(services, chat_id)
