"""Which weight quantisation to load the base model with (a small pure function, like trl's
`get_quantization_config`): a `BitsAndBytesConfig`, or None for full-precision weights."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

QUANTIZATION_CHOICES = ("auto", "4bit", "8bit", "none")


class QuantizationError(ValueError):
    """An unknown quantisation was requested."""


def choose_quantization(requested: str, cuda: bool, *, sharded: bool = False) -> Any:
    """`auto` → 4-bit NF4 (double quantisation, bf16 compute) on CUDA, none on CPU; `4bit`, `8bit`
    and `none` as asked.

    Why none on CPU: bitsandbytes 0.50 does run 4-bit on CPU, but it dequantises every weight on
    every forward. Measured with bench/quantization_bench.py (SmolLM2-135M, LoRA on q/k/v/o, 128
    tokens, 2 shared cores): 10.4 s per step in fp32 vs 47.0 s in 4-bit; 4-bit only saves memory
    (513 → 159 MiB), which is not the limit for the models a CPU can train.

    `sharded` (FSDP / DeepSpeed ZeRO-3, see training.fitting.distributed.shards_parameters): the packed
    4-bit weights are stored in the compute dtype (`bnb_4bit_quant_storage`), which is what lets
    those shard them like any other parameter."""
    if requested not in QUANTIZATION_CHOICES:
        raise QuantizationError(f"quantization must be one of {', '.join(QUANTIZATION_CHOICES)}, not {requested!r}")
    chosen = requested
    if requested == "auto":
        chosen = "4bit" if cuda else "none"
    log.info("quantization: %s (requested %s, %s)", chosen, requested, "cuda" if cuda else "cpu")
    if chosen == "none":
        return None
    import torch
    from transformers import BitsAndBytesConfig

    if chosen == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    compute = torch.bfloat16 if cuda else torch.float32
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute,
        bnb_4bit_quant_storage=compute if sharded else torch.uint8,
    )
