"""The CPU's limit for training, and how much of it a LoRA step uses (bench/train_bench.py prints it).

- `measured_peak`: the fp32 FLOP rate torch reaches on these cores with a large matmul (`n` x `n`
  times `n` x `n`, 2n^3 FLOPs, the best of a few repeats after a warm-up) — the practical ceiling;
- `theoretical_peak`: cores x GHz x 32 FLOP/cycle, the AVX2+FMA fp32 peak (two 256-bit FMA units:
  2 x 8 lanes x 2 FLOPs), the clock read from /proc/cpuinfo (`cpu MHz`, the nominal clock a VM
  shows; turbo can run above it);
- `lora_step_flops_per_token`: the FLOPs one trained token costs in a LoRA step. Forward: 2 per
  weight of every matmul (attention and MLP projections, and the LM head, which a tied embedding
  still computes) plus attention's scores and weighted sums (4 x layers x hidden x the mean context).
  Backward: the gradient with respect to the activations through the frozen weights, 2 per weight
  (their own weight gradients are never computed), and the attention part twice, both only down
  to the lowest adapted layer (backpropagation stops there); LoRA's small matrices cost 2 forward
  and 4 backward (activations and weights) per parameter. Optimizer and element-wise work are
  left out: the share counts the matmul work a step cannot avoid.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FMA_FLOPS_PER_CYCLE = 32  # fp32, AVX2 + FMA: 2 FMA units x 8 lanes x 2 FLOPs
_LAYER = re.compile(r"\.layers\.(\d+)\.")


@dataclass(frozen=True, slots=True)
class Peak:
    """A FLOP rate and how it was obtained."""

    flops_per_second: float
    how: str


def measured_peak(threads: int, n: int = 2048, repeats: int = 5) -> Peak:
    """The best fp32 matmul rate torch reaches with `threads` threads."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a, b = torch.randn(n, n), torch.randn(n, n)
        torch.mm(a, b)  # warm-up: thread pool, caches
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            torch.mm(a, b)
            best = min(best, time.perf_counter() - started)
    finally:
        torch.set_num_threads(before)
    return Peak(2 * n**3 / best, f"torch.mm fp32 {n}x{n}, best of {repeats}, {threads} thread(s)")


def cpu_mhz() -> float | None:
    """The clock /proc/cpuinfo reports (MHz), None where it has none."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return None
    values = [float(line.split(":", 1)[1]) for line in text.splitlines() if line.startswith("cpu MHz")]
    return max(values) if values else None


def theoretical_peak(cores: int) -> Peak | None:
    """cores x GHz x 32 FLOP/cycle (None without a clock to read)."""
    mhz = cpu_mhz()
    if mhz is None:
        return None
    return Peak(cores * mhz * 1e6 * FMA_FLOPS_PER_CYCLE,
                f"{cores} cores x {mhz / 1000:.2f} GHz (/proc/cpuinfo) x {FMA_FLOPS_PER_CYCLE} FLOP/cycle "
                "(AVX2+FMA fp32)")


@dataclass(frozen=True, slots=True)
class StepFlops:
    """FLOPs per trained token of a LoRA step, and what they were counted from."""

    per_token: float
    frozen_matmul_weights: int
    lora_weights: int
    mean_context: float


def lora_step_flops_per_token(peft_model: Any, mean_context: float) -> StepFlops:
    """See the module docstring. `mean_context`: the mean number of earlier positions a token
    attends to (half the mean sequence length for causal attention)."""
    import torch

    frozen: dict[int | None, int] = {}  # per transformer layer (None: outside the layers, e.g. the LM head)
    lora, lowest = 0, None
    for name, module in peft_model.named_modules():
        if not isinstance(module, torch.nn.Linear):
            continue
        found = _LAYER.search(name)
        layer = int(found.group(1)) if found else None
        if "lora_" in name:
            lora += module.weight.numel()
            lowest = layer if lowest is None or (layer is not None and layer < lowest) else lowest
        else:
            frozen[layer] = frozen.get(layer, 0) + module.weight.numel()
    config = peft_model.config
    layers = config.num_hidden_layers
    # backpropagation stops at the lowest adapted layer (`lora_last_layers`)
    behind = [i for i in frozen if i is None or lowest is None or i >= lowest]
    attention = 4 * config.hidden_size * mean_context
    total = sum(frozen.values())
    forward = 2 * total + layers * attention + 2 * lora
    backward = 2 * sum(frozen[i] for i in behind) + 2 * attention * (layers - (lowest or 0)) + 4 * lora
    return StepFlops(forward + backward, total, lora, mean_context)


def cores() -> int:
    return os.cpu_count() or 1
