"""What every tab shares: the context handlers run in, time and table formatting, and how owner-facing
errors and table clicks reach Gradio.

Handlers in the tab modules are plain async functions over a `PanelContext` returning frozen
dataclasses; only each tab's `build()` touches Gradio. So a handler is tested without a browser or
Gradio, and a new tab is a new module with handlers plus a `build()` that the builder calls.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from application import chats
from application.errors import ActionError
from application.jobs import JobRegistry
from application.reply_memory import MemoryUsed
from services import Services
from storage import StorageError

RELATIONSHIPS = ["friend", "family", "partner", "work", "acquaintance"]
# (label, value) pairs as Gradio dropdowns take them.
Choices = list[tuple[str, int]]

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


class NothingChosen(ActionError):
    """An action needs a chat, draft, run or adapter picked first."""


@dataclass(frozen=True)
class PanelContext:
    """What a handler needs: the services (storage only through their functions), the background
    jobs of this process and the owner's time zone for every time shown."""

    services: Services
    jobs: JobRegistry

    @property
    def tz(self) -> str:
        return self.services.settings.timezone


def format_time(ts: int | float | None, tz: str = "UTC") -> str:
    if not ts:
        return ""
    try:
        zone: Any = ZoneInfo(tz)
    except Exception:  # an unknown zone name falls back to UTC rather than breaking a table
        zone = UTC
    return datetime.fromtimestamp(ts, zone).strftime("%Y-%m-%d %H:%M")


async def chat_titles(ctx: PanelContext) -> dict[int, str]:
    """Chat id → title, for tables that list chats by name."""
    return {c.id: c.title for c in await chats.chat_list(ctx.services, limit=5000)}


def why_text(used: MemoryUsed, tz: str = "UTC") -> str:
    """"Why this reply" as plain text (a text box, never Markdown: chat texts are shown as written):
    the memory line, then each earlier exchange under its date and message ids."""
    lines = [used.note]
    for exchange in used.exchanges:
        ids = ", ".join(str(i) for i in exchange.message_ids)
        deleted = f"; deleted since: {', '.join(str(i) for i in exchange.deleted_ids)}" if exchange.deleted_ids else ""
        lines.append(f"\n{format_time(exchange.date, tz) or 'undated'} (messages {ids}{deleted})")
        lines.extend(f"  {line}" for line in exchange.lines)
    return "\n".join(lines)


def as_id(value: Any, what: str) -> int:
    """Dropdown values come back as ints (or strings when typed in)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise NothingChosen(f"choose a {what} first") from None


def is_empty(value: Any) -> bool:
    """An unset dropdown."""
    return value in (None, "")


def owner_errors(fn: F) -> F:
    """Show the owner why an action did not happen, as a toast, instead of a generic error."""
    import gradio as gr

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return await fn(*args, **kwargs)
        except (ActionError, StorageError) as exc:
            raise gr.Error(str(exc)) from exc

    return wrapper  # type: ignore[return-value]


def first_cell(frame: Any, index: Any) -> Any:
    """The id (first column) of the clicked row; `index` is Gradio's (row, column) or row."""
    row = index[0] if isinstance(index, (list, tuple)) else index
    value = frame.iloc[row, 0]
    return value.item() if hasattr(value, "item") else value


def row_picker() -> Callable[..., Any]:
    """A `.select` handler: clicking a table row picks the row's id in the matching dropdown.

    Gradio passes the click only to a parameter annotated `gr.SelectData`, found through the
    annotation object itself; gradio is imported here, not at module level, so it is set directly."""
    import gradio as gr

    def row_id(frame: Any, evt: Any) -> Any:
        return first_cell(frame, evt.index)

    row_id.__annotations__ = {"frame": Any, "evt": gr.SelectData, "return": Any}
    return row_id
