"""What a model backend reports about itself: one frozen shape for the local service and the
OpenAI-compatible backend, so the panel, `/health` and the CLI read the same fields."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

ModelState = Literal["stopped", "loading", "ready", "error"]


@dataclass(frozen=True, slots=True)
class ModelStatus:
    """A snapshot of a reply model backend (`services.ReplyModel.status()`)."""

    backend: str
    """`local`, `openai` (or a test fake's name)."""
    state: ModelState
    base_model: str
    """The configured base model spec (`tiny`, `bundled:smollm2-135m`, a hub id or a directory)."""
    adapter_id: str | None = None
    """The served adapter's directory name; None for the bare base model."""
    adapter_path: str | None = None
    adapter_preset: str | None = None
    adapter_error: str | None = None
    """Why the requested adapter is not served (the base model is, instead)."""
    error: str | None = None
    """The last load or request error; None while healthy."""
    device: str = ""
    """`cpu`, `cuda:0`…, or `remote` for a server-side model."""
    dtype: str | None = None
    engine: str | None = None
    """The local serving engine: `torch` or `ct2` (CTranslate2); None for the openai backend."""
    server: str | None = None
    """The OpenAI-compatible server's base URL (openai backend only)."""
    served_model: str | None = None
    """The model (or LoRA) name requested from the server (openai backend only)."""
    prompt_style: str | None = None
    prompt_memory: bool | None = None
    """The served prompt format has a memory block (an adapter trained with memory); None before
    a format is loaded."""
    waiting: int = 0
    """Requests queued for the model right now."""
    last_latency_s: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready; the field names are the keys (the API's `model` object and the panel's)."""
        return dataclasses.asdict(self)
