"""Decode speed and reply latency of the default model (`bundled:smollm2-135m`) on this machine.

    python -m bench.generate_bench [--dtypes bf16,fp32] [--replies 10] [--threads N]

For each dtype: prefill time of a realistic prompt (10 context turns through the real prompt
format), decode tokens/s (greedy, 64 forced tokens, KV cache, prefill subtracted), and the p50/p90
latency of a whole 30-token reply through `generate_replies` (sampling, stop rules, decoding).
Prints the load average too: on a shared machine other work slows every number down.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from model.dialogue import Dialogue, Turn

DTYPES = {"bf16": "bfloat16", "fp32": "float32"}
LLAMA_CPP_Q4_1_TOK_S = 122.0  # measured earlier on this machine and model (reference only)


def bench_dialogue() -> Dialogue:
    lines = [
        ("partner", "hey, are you free tonight?"), ("owner", "maybe, what's up?"),
        ("partner", "the new place on Lenina opened, want to try it"), ("owner", "sure! what time"),
        ("partner", "8? I'll book a table"), ("owner", "ok 👍"), ("partner", "can you bring the charger"),
        ("owner", "which one"), ("partner", "the usb-c one, mine broke"), ("partner", "also, how was the exam?"),
    ]
    turns = tuple(Turn(role, (text,), "Anna" if role == "partner" else None) for role, text in lines)  # type: ignore[arg-type]
    return Dialogue(turns, partner_name="Anna", relationship="friend")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(dtype_name: str, models_dir: Path, replies: int, decode_tokens: int) -> dict[str, Any]:
    import torch

    from model.generation import GenerationSettings, generate_replies
    from model.prompt import PromptFormat
    from model.sources import load_base

    started = time.perf_counter()
    model, tokenizer = load_base("bundled:smollm2-135m", models_dir, dtype=getattr(torch, DTYPES[dtype_name]))
    load_s = time.perf_counter() - started
    fmt = PromptFormat.for_tokenizer(tokenizer)
    dialogue = bench_dialogue()
    ids = torch.tensor([fmt.encode_prompt(tokenizer, dialogue)])
    eos = [tokenizer.eos_token_id]

    def run(new_tokens: int) -> float:
        t0 = time.perf_counter()
        with torch.inference_mode():
            model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens,
                           min_new_tokens=new_tokens, do_sample=False, eos_token_id=eos, pad_token_id=eos[0])
        return time.perf_counter() - t0

    run(4)  # warm-up
    prefill = statistics.median(run(1) for _ in range(3))
    decode = statistics.median(decode_tokens / max(1e-9, run(decode_tokens + 1) - prefill) for _ in range(3))

    no_end = _suppress(eos + tokenizer.encode(fmt.end_of_turn, add_special_tokens=False))
    gen = GenerationSettings(temperature=0.7, top_p=0.9, max_new_tokens=30)
    latencies = []
    for _ in range(replies):
        t0 = time.perf_counter()
        generate_replies(model, tokenizer, fmt, dialogue, gen, logits_processors=[no_end])
        latencies.append(time.perf_counter() - t0)
    return {
        "dtype": dtype_name, "load_s": load_s, "prompt_tokens": ids.shape[1], "prefill_s": prefill,
        "decode_tok_s": decode, "reply_p50_s": percentile(latencies, 0.5), "reply_p90_s": percentile(latencies, 0.9),
    }


def _suppress(token_ids: list[int]) -> Any:
    """Keeps the bench reply at its full 30 tokens (an early end of turn would flatter latency)."""
    def processor(input_ids: Any, scores: Any) -> Any:
        scores[:, token_ids] = float("-inf")
        return scores
    return processor


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.generate_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dtypes", default="bf16,fp32", help="comma-separated: bf16, fp32")
    parser.add_argument("--replies", type=int, default=10, help="30-token replies timed per dtype")
    parser.add_argument("--decode-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = what the model service uses)")
    parser.add_argument("--models-dir", type=Path, default=None, help="where the converted model is cached")
    args = parser.parse_args()

    import torch

    from model.sources import inference_dtype, inference_threads

    torch.set_num_threads(args.threads or inference_threads())
    print(f"cpus {os.cpu_count()}, torch threads {torch.get_num_threads()}, "
          f"default CPU inference dtype {str(inference_dtype(False)).replace('torch.', '')}, "
          f"load average before {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="tgtwin-genbench-") as tmp:
        models_dir = args.models_dir or Path(tmp)
        for name in args.dtypes.split(","):
            r = measure(name.strip(), models_dir, args.replies, args.decode_tokens)
            print(f"{r['dtype']}: load {r['load_s']:.1f}s, prompt {r['prompt_tokens']} tokens, prefill {r['prefill_s']:.2f}s, "
                  f"decode {r['decode_tok_s']:.1f} tok/s ({r['decode_tok_s'] / LLAMA_CPP_Q4_1_TOK_S:.2f}x llama.cpp Q4_1), "
                  f"30-token reply p50 {r['reply_p50_s']:.2f}s p90 {r['reply_p90_s']:.2f}s", flush=True)
    print(f"load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
