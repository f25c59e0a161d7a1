"""The one rule both backends serve by: the adapter's saved prompt format, else the base model's."""

from __future__ import annotations

from pathlib import Path

from model.adapter_format import serving_format
from model.prompt import PromptFormat

SAVED = PromptFormat(style="plain", end_of_turn="</s>", bos_token="<s>", add_bos=True)
BASE = PromptFormat(style="plain", end_of_turn="<eos>", bos_token="<bos>", add_bos=False)


def test_the_adapters_saved_format_wins(tmp_path: Path) -> None:
    SAVED.save(tmp_path)
    calls: list[int] = []
    assert serving_format(tmp_path, lambda: calls.append(1) or BASE) == SAVED
    assert calls == []  # the base format is not even built


def test_no_adapter_or_no_saved_format_serves_the_base_format(tmp_path: Path) -> None:
    assert serving_format(None, lambda: BASE) == BASE
    assert serving_format(str(tmp_path), lambda: BASE) == BASE
