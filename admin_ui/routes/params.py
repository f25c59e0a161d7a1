"""Range checks at the edge: ids and times are SQLite integers (64-bit signed), so anything outside
that range is bad input (422) rather than an OverflowError from the driver (500)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import Field

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
"""A body field stored as an SQLite integer."""

ChatIdPath = Annotated[int, Path(ge=INT64_MIN, le=INT64_MAX, description="Telegram chat id.")]
DraftIdPath = Annotated[int, Path(ge=INT64_MIN, le=INT64_MAX)]
RunIdPath = Annotated[int, Path(ge=INT64_MIN, le=INT64_MAX)]
JobIdPath = Annotated[int, Path(ge=INT64_MIN, le=INT64_MAX)]
ChatIdQuery = Annotated[int | None, Query(ge=INT64_MIN, le=INT64_MAX, description="Only this chat.")]
UnixTimeQuery = Annotated[int | None, Query(ge=INT64_MIN, le=INT64_MAX, description="Unix seconds.")]
