"""`/api/drafts`: suggested replies the owner approves, edits and sends, or discards."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field

from admin_ui.deps import ServicesDep
from admin_ui.errors import error_responses
from admin_ui.routes.memory_used import MemoryOut
from admin_ui.routes.params import DraftIdPath, Int64
from application import records
from application.drafting import (
    discard_draft,
    draft_messages,
    editable_text,
    edited_messages,
    send_draft,
    suggest_draft,
)
from storage.replies import Draft, DraftStatus

router = APIRouter(prefix="/drafts", tags=["drafts"])


class DraftOut(BaseModel):
    id: int
    chat_id: int
    trigger_message_id: int | None
    messages: list[str] = Field(description="The model's suggestion: the Telegram messages it would send.")
    sent_messages: list[str] | None = Field(description="What the owner actually sent (differs when edited).")
    text: str = Field(description="`messages`, one per line (as the panel shows and edits them).")
    status: DraftStatus
    created_at: int
    updated_at: int
    memory_message_ids: list[int] | None = Field(
        description="The chat's messages the suggestion's prompt held as memory (ids only); null: a draft from "
                    "before memory.")

    @classmethod
    def of(cls, draft: Draft) -> "DraftOut":
        return cls(
            id=draft.id, chat_id=draft.chat_id, trigger_message_id=draft.trigger_message_id,
            messages=draft_messages(draft.text),
            sent_messages=None if draft.sent_text is None else draft_messages(draft.sent_text),
            text=editable_text(draft_messages(draft.text)), status=draft.status,
            created_at=draft.created_at, updated_at=draft.updated_at, memory_message_ids=draft.memory_message_ids,
        )


class SuggestIn(BaseModel):
    chat_id: Int64
    message: str | None = Field(None, max_length=4096, description="A new incoming partner message to answer too.")


class SuggestOut(DraftOut):
    telegram_draft_saved: bool = Field(description="Also placed in the chat's Telegram input box.")
    memory: MemoryOut = Field(description="The memory the prompt held, or why none.")


class SendIn(BaseModel):
    """Leave both out to send the suggestion as it is."""

    messages: list[str] | None = Field(None, max_length=20, description="Edited messages to send instead.")
    text: str | None = Field(None, max_length=4096 * 10, description="Or edited text, one message per line.")

    def edited(self) -> list[str] | None:
        if self.messages is not None:
            return self.messages
        return None if self.text is None else edited_messages(self.text)


@router.post("", response_model=SuggestOut, status_code=status.HTTP_201_CREATED,
             summary="Suggest a reply for a chat from its stored history; stored as a pending draft",
             responses=error_responses(404, 503))
async def create_draft(body: SuggestIn, services: ServicesDep) -> SuggestOut:
    suggestion = await suggest_draft(services, body.chat_id, body.message)
    draft = DraftOut.of(suggestion.draft).model_dump()
    return SuggestOut(**draft, telegram_draft_saved=suggestion.telegram_draft_saved,
                      memory=MemoryOut.of(suggestion.memory))


@router.get("", response_model=list[DraftOut], summary="Drafts, newest first")
async def list_drafts(
    services: ServicesDep,
    draft_status: Annotated[DraftStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[DraftOut]:
    return [DraftOut.of(d) for d in await records.drafts(services, draft_status, limit)]


@router.post("/{draft_id}/send", response_model=DraftOut,
             summary="Send a pending draft (optionally edited); both texts are kept",
             responses=error_responses(404, 409, 502))
async def post_send(draft_id: DraftIdPath, services: ServicesDep, body: SendIn | None = None) -> DraftOut:
    return DraftOut.of(await send_draft(services, draft_id, body.edited() if body else None))


@router.post("/{draft_id}/discard", response_model=DraftOut, summary="Discard a pending draft",
             responses=error_responses(404, 409))
async def post_discard(draft_id: DraftIdPath, services: ServicesDep) -> DraftOut:
    return DraftOut.of(await discard_draft(services, draft_id))
