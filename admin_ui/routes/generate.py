"""`POST /api/generate`: prompt testing on a composed dialogue, no stored chat involved."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from admin_ui.deps import ServicesDep
from admin_ui.errors import error_responses
from admin_ui.routes.memory_used import MemoryOut
from admin_ui.routes.params import Int64
from application.drafting import MAX_CANDIDATES, compose_dialogue, generate_candidates

router = APIRouter(tags=["generate"])


class MessageIn(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    speaker: Literal["partner", "owner"] = Field(alias="from")
    text: str = Field(min_length=1, max_length=4096)


class GenerateIn(BaseModel):
    messages: list[MessageIn] = Field(min_length=1, max_length=200, description="Oldest first; ends with the partner.")
    relationship: str | None = Field(None, max_length=40)
    partner_name: str | None = Field(None, max_length=100)
    n: int = Field(1, ge=1, le=MAX_CANDIDATES, description="How many candidate replies to sample.")
    memory_chat_id: Int64 | None = Field(
        None, description="Recall memory from this stored chat's history, as a live reply in it would.")


class GenerateOut(BaseModel):
    messages: list[str] = Field(description="The first candidate: the Telegram messages the owner would send.")
    candidates: list[list[str]]
    memory: MemoryOut = Field(description="The memory the prompt held, or why none.")


@router.post("/generate", response_model=GenerateOut, summary="Reply to a composed dialogue (playground)",
             responses=error_responses(404, 503))
async def post_generate(body: GenerateIn, services: ServicesDep) -> GenerateOut:
    """404: `memory_chat_id` names no stored chat."""
    dialogue = compose_dialogue([(m.speaker, m.text) for m in body.messages], body.relationship, body.partner_name)
    result = await generate_candidates(services, dialogue, body.n, body.memory_chat_id)
    return GenerateOut(messages=result.replies[0] if result.replies else [], candidates=result.replies,
                       memory=MemoryOut.of(result.memory))
