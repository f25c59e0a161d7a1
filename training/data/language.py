"""Does the base model suit the owner's language? A pure check over the owner's own texts.

The bundled SmolLM2-135M is English-centric: on Russian chats it answers with invented words
(issue 10). When most of the owner's letters are in a script such a model handles poorly, the
dataset command and the demo start say so once, plainly, and name a model that fits (README's
model-choice table). The panel shows the same warning (wiring comes with the panel's second wave).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# Base models trained almost only on Latin-script text: another script's share above the threshold
# means poor replies. Hub models such as Qwen2.5 are multilingual and not listed.
LATIN_CENTRIC_MODELS = ("bundled:smollm2-135m", "HuggingFaceTB/SmolLM2")
THRESHOLD = 0.5
SUGGESTED_PRESET = "qwen2.5-0.5b-cpu"


@dataclass(frozen=True, slots=True)
class LanguageWarning:
    """The owner's texts are mostly in `script`, which `base_model` handles poorly."""

    base_model: str
    script: str
    share: float
    letters: int

    @property
    def message(self) -> str:
        return (
            f"{self.share:.0%} of the letters in your messages are {self.script}, and the base model "
            f"{self.base_model} is trained almost only on English: its replies will read poorly, with "
            f"invented words. Choose a multilingual model (e.g. preset {SUGGESTED_PRESET} with "
            "TGTWIN_BASE_MODEL=Qwen/Qwen2.5-0.5B-Instruct; see the model table in README.md)."
        )


def letter_scripts(texts: Iterable[str]) -> dict[str, int]:
    """Letters counted per script (the first word of each letter's Unicode name: LATIN, CYRILLIC…)."""
    counts: dict[str, int] = {}
    for text in texts:
        for char in text:
            if char.isalpha():
                script = unicodedata.name(char, "UNKNOWN").split(" ", 1)[0]
                counts[script] = counts.get(script, 0) + 1
    return counts


def language_warning(owner_texts: Iterable[str], base_model: str) -> LanguageWarning | None:
    """A warning when `base_model` is Latin-centric and more than half of the owner's letters are in
    another script; None otherwise (also for no text at all)."""
    if not any(base_model.startswith(name) for name in LATIN_CENTRIC_MODELS):
        return None
    counts = letter_scripts(owner_texts)
    letters = sum(counts.values())
    if not letters:
        return None
    script, n = max(((s, c) for s, c in counts.items() if s != "LATIN"), key=lambda sc: sc[1], default=("", 0))
    share = n / letters
    if share <= THRESHOLD:
        return None
    return LanguageWarning(base_model, script.capitalize(), share, letters)


async def history_language_warning(db: Any, settings: Any, max_chats: int = 50) -> LanguageWarning | None:
    """The check over the stored owner messages of the chats training would use (demo start)."""
    from storage import dataset_queries
    from training.data.dataset import DatasetOptions, chat_allowed

    options = DatasetOptions.from_settings(settings)
    texts: list[str] = []
    for chat in (await dataset_queries.all_chats(db))[:max_chats]:
        if chat_allowed(chat, options.train_groups):
            texts.extend(m.text for m in await dataset_queries.chat_history(db, chat.id) if m.outgoing and m.text)
    return language_warning(texts, settings.base_model)
