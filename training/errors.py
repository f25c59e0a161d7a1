"""The errors a training run raises (`training.runs.run` re-exports them for its callers)."""

from __future__ import annotations


class TrainingError(RuntimeError):
    """A run could not train (e.g. no examples)."""


class NoTrainingData(TrainingError):
    """The dataset has no training examples (import or harvest some chats first)."""


class PeerFailed(TrainingError):
    """(On a non-main process of a multi-process run) the main process failed; it recorded why."""
