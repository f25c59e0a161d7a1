"""Time one LoRA training step of the default model with full-precision vs 4-bit (bitsandbytes)
weights on this machine: the measurement behind `choose_quantization("auto")` on CPU.

    python -m bench.quantization_bench [--steps 3] [--tokens 128] [--modes none,4bit]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path


def step_seconds(mode: str, models_dir: Path, steps: int, tokens: int) -> tuple[float, float]:
    """(median seconds per forward+backward+optimizer step, resident weight MiB)."""
    import torch
    from peft import LoraConfig, get_peft_model

    from model.sources import load_base

    model, _ = load_base("bundled:smollm2-135m", models_dir, quantization=mode, for_training=True)
    weight_mib = model.get_memory_footprint() / 2**20
    peft = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
                                             task_type="CAUSAL_LM"))
    optimizer = torch.optim.AdamW([p for p in peft.parameters() if p.requires_grad], lr=1e-4)
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 49152, (1, tokens), generator=generator)
    times = []
    for _ in range(steps + 1):  # the first step warms up
        t0 = time.perf_counter()
        loss = peft(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        times.append(time.perf_counter() - t0)
    return statistics.median(times[1:]), weight_mib


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.quantization_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--modes", default="none,4bit")
    parser.add_argument("--models-dir", type=Path, default=None)
    args = parser.parse_args()
    print(f"cpus {os.cpu_count()}, load average before {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="tgtwin-qbench-") as tmp:
        for mode in args.modes.split(","):
            seconds, mib = step_seconds(mode.strip(), args.models_dir or Path(tmp), args.steps, args.tokens)
            print(f"{mode}: {seconds:.2f}s per LoRA step ({args.tokens} tokens), weights {mib:.0f} MiB", flush=True)
    print(f"load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
