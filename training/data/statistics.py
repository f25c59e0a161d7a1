"""`main.py dataset --json`: the dataset's statistics in one JSON-ready object, computed from the real
encoded training sequences (the base model's tokenizer and prompt format, as a run would build them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from training.data.coverage import Coverage
from training.data.dataset import BuiltDataset
from training.data.language import LanguageWarning, language_warning
from training.data.sequences import SequenceStats


@dataclass(frozen=True, slots=True)
class DatasetReport:
    """Example counts, sequence statistics (None when the tokenizer could not be loaded), the
    language warning and the training coverage (None when not asked for)."""

    examples: dict[str, Any]
    sequences: SequenceStats | None
    base_model: str
    max_length: int
    language: LanguageWarning | None
    tokenizer_error: str | None = None
    coverage: Coverage | None = None

    def as_dict(self) -> dict[str, Any]:
        sequences = self.sequences.as_dict() if self.sequences else None
        return {
            **self.examples,
            "base_model": self.base_model,
            "max_length": self.max_length,
            "loss_token_share": sequences["loss_token_share"] if sequences else None,
            "sequences": sequences,
            "tokenizer_error": self.tokenizer_error,
            "language_warning": self.language.message if self.language else None,
            "coverage": self.coverage.as_dict() if self.coverage else None,
        }


def owner_texts(built: BuiltDataset) -> list[str]:
    return [m for e in built.examples for m in e.reply.messages]


def dataset_report(
    built: BuiltDataset, settings: Any, preset: str | None = None, coverage: Coverage | None = None
) -> DatasetReport:
    """Encode the training conversations as a run with `preset` would and count what they hold."""
    from training.config import load_preset

    config = load_preset(preset or settings.training_preset)
    base = config.base_model or settings.base_model
    examples = {**built.stats.as_dict(), "conversations": len(built.conversations)}
    warning = language_warning(owner_texts(built), base)
    try:
        tokenizer = load_tokenizer(base, settings.models_dir)
    except (OSError, ValueError, RuntimeError) as exc:  # e.g. a hub model not downloaded here (ModelSourceError)
        return DatasetReport(examples, None, base, config.max_length, warning, f"{type(exc).__name__}: {exc}", coverage)
    from model.prompt import PromptFormat
    from training.data.sequences import encode_conversations

    fmt = PromptFormat.for_training(tokenizer, memory=settings.memory_enabled)
    _, stats = encode_conversations(tokenizer, fmt, built.conversations, config.max_length, settings.context_turns)
    return DatasetReport(examples, stats, base, config.max_length, warning, coverage=coverage)


def load_tokenizer(base: str, models_dir: Any) -> Any:
    from transformers import AutoTokenizer

    from model.sources import resolve_base_dir

    return AutoTokenizer.from_pretrained(str(resolve_base_dir(base, models_dir)))
