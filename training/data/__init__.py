"""What a run learns from: examples built from stored history, whole-conversation sequences,
preference pairs from drafts, what has been learned (coverage) and in which order to train."""
