"""The memory a reply's prompt held ("why this reply"), as the draft and playground answers carry it."""

from __future__ import annotations

from pydantic import BaseModel, Field

from application.reply_memory import MemoryUsed, NoMemoryReason


class RecollectionOut(BaseModel):
    date: int = Field(description="Unix time of the exchange's first message.")
    message_ids: list[int] = Field(description="The chat's messages it holds.")
    deleted_message_ids: list[int] = Field(description="Those deleted since the reply was made.")


class MemoryOut(BaseModel):
    """Ids and dates only: the REST API returns no stored chat message (the panel shows their texts)."""

    message_ids: list[int] = Field(description="Every message of the chat the prompt's memory held.")
    recollections: list[RecollectionOut] = Field(description="Earlier exchanges of the chat, oldest first.")
    no_memory_reason: NoMemoryReason | None = Field(description="Why the prompt held no memory; null when it did.")
    note: str = Field(description="One line for a person: how much memory, or why none.")

    @classmethod
    def of(cls, used: MemoryUsed) -> MemoryOut:
        return cls(
            message_ids=used.message_ids,
            recollections=[RecollectionOut(date=e.date, message_ids=list(e.message_ids),
                                           deleted_message_ids=list(e.deleted_ids)) for e in used.exchanges],
            no_memory_reason=used.reason, note=used.note,
        )
