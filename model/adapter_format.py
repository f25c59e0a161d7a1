"""Which prompt format serves an adapter: the one rule both model backends use."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from model.prompt import FORMAT_FILE, PromptFormat


def serving_format(adapter_dir: str | Path | None, base_format: Callable[[], PromptFormat]) -> PromptFormat:
    """The adapter's saved `prompt_format.json`; without an adapter, or for an adapter saved
    without one (older tgtwin), the base model's format (`base_format` is called only then)."""
    if adapter_dir is not None and (Path(adapter_dir) / FORMAT_FILE).is_file():
        return PromptFormat.load(adapter_dir)
    return base_format()
