"""Prompt format, base-model loading, generation and the model service (training and serving share it)."""
