"""Reply latency and decode speed of the default model (`bundled:smollm2-135m`) on CPU.

    python -m bench.generate_bench [--dtypes bf16,fp32] [--replies 10] [--threads N]
    python -m bench.generate_bench --options torch,ct2-int8,llama.cpp,service-torch,service-ct2
                                   [--replies 8] [--no-training] [--models-dir DIR] [--llama-site DIR]
                                   [--adapter DIR]

Per dtype (the first form, read by bench/report.py): prefill time of a realistic prompt, decode
tokens/s (greedy, forced tokens, KV cache, prefill subtracted), p50/p90 of a whole 30-token reply.

With `--options`: every option side by side, idle and while a real training run works, in one run.

Decode options (each one timed through the same 30-token reply: the real prompt format, sampling,
the end of turn held off so every reply is 30 tokens; then decode tokens/s alone, from 97- and
1-token replies):
- `torch`: the torch engine's generation (eager, dynamic KV cache);
- `prompt-lookup`: the same with assisted decoding from n-grams of the prompt;
- `static-compile`: static KV cache + `torch.compile` of the decode step (inductor, CPU);
- `ct2-int8`: the CTranslate2 engine (`model/ct2_engine.py`) on its int8 export;
- `llama.cpp`: llama.cpp on the bundled GGUF itself (Q4_1), the reference of the speed goal; needs
  `llama_cpp` importable, e.g. from a separate venv (`--llama-site …/site-packages`; it compiles for
  ~10 minutes, so it is not a dependency).
Product options: `service-torch`, `service-ct2` time `ModelService.reply` on each engine — what a
chat waits for: 4 candidates sampled, filtered and ranked, as long as the model makes them, from
the bare base model or `--adapter DIR` (a trained twin's replies are shorter).

Every option runs with the threads serving would use (`model.service.serving_threads`: every core
while nothing trains and the load leaves one free, else `inference_threads()`). Phase 1 times every
option idle, round-robin (each round runs one reply per option, so drift in the machine's load hits
every option alike); phase 2 starts a real training run through the worker (`python -m
training.runs.worker`: lowered priority, the cores serving doesn't use) on the bundled model and times
them again. Prints load averages: on a shared machine other work slows every number down.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.decode_options import OPTIONS, REPLY_TOKENS, Option, bench_dialogue, build_options, suppress

REPO_ROOT = Path(__file__).resolve().parents[1]
LLAMA_CPP_Q4_1_TOK_S = 122.0  # the dtype form's reference: measured earlier on this machine and model
DTYPES = {"bf16": "bfloat16", "fp32": "float32"}


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

    no_end = suppress(eos + tokenizer.encode(fmt.end_of_turn, add_special_tokens=False))
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


def time_round_robin(options: list[Option], replies: int, phase: str) -> None:
    from model.service import serving_threads

    threads = serving_threads(training=phase == "training")
    print(f"{phase}: serving threads {threads}", flush=True)
    for option in options:
        option.setup(phase, threads)
    for _ in range(replies):
        for option in options:
            started = time.perf_counter()
            option.reply(REPLY_TOKENS)
            getattr(option, phase).append(time.perf_counter() - started)
    for option in options:
        if option.tokens:
            option.decode[phase] = measure_decode(option)


def measure_decode(option: Option, long: int = 97, repeats: int = 3) -> float:
    """Decode tokens/s alone: (long - 1) tokens over the median time of a `long`-token reply minus
    that of a 1-token one (the prompt's processing, sampling set-up)."""
    def median_s(tokens: int) -> float:
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            option.reply(tokens)
            times.append(time.perf_counter() - started)
        return statistics.median(times)
    return (long - 1) / max(1e-9, median_s(long) - median_s(1))


def start_training(root: Path, models_dir: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """A real run through the training worker (its priority and threads as in production)."""
    from settings import load_settings
    from storage import Database
    from storage import training as training_queries
    from testdata.seed_chat import seed_data_dir
    from training.runs.controller import worker_settings_json

    data_dir = root / "train-data"
    asyncio.run(seed_data_dir(data_dir, exchanges=200))
    (data_dir / "models").symlink_to(models_dir.resolve())
    settings = load_settings(data_dir=data_dir)

    async def create_run() -> int:
        async with Database.open(settings.db_path) as db:
            return (await training_queries.create_run(db, "bench", settings.training_preset)).id

    run_id = asyncio.run(create_run())
    settings_file = root / "run.settings.json"
    settings_file.write_text(worker_settings_json(settings), encoding="utf-8")
    log_path = root / "training.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TGTWIN_")}
    env.update(PYTHONPATH=str(REPO_ROOT), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "training.runs.worker", "--run-id", str(run_id),
             "--preset", settings.training_preset, "--settings-file", str(settings_file)],
            cwd=root, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while " step " not in log_path.read_text(errors="replace"):  # the model is loaded and training steps run
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the training run did not start:\n{log_path.read_text(errors='replace')[-2000:]}")
        time.sleep(1)
    return process, log_path


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.generate_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--options", default=None,
                        help=f"compare decode options, comma-separated: {', '.join(OPTIONS)}")
    parser.add_argument("--dtypes", default="bf16,fp32", help="(without --options) comma-separated: bf16, fp32")
    parser.add_argument("--decode-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = what the model service uses)")
    parser.add_argument("--replies", type=int, default=8, help="30-token replies timed per option/dtype and phase")
    parser.add_argument("--no-training", action="store_true", help="idle phase only")
    parser.add_argument("--models-dir", type=Path, default=None, help="where the converted model is cached")
    parser.add_argument("--adapter", default=None,
                        help="an adapter directory the product options serve (default: the base)")
    parser.add_argument("--llama-site", default=None,
                        help="a site-packages dir holding llama_cpp (appended to sys.path)")
    args = parser.parse_args()
    if args.options is None:
        compare_dtypes(args)
    else:
        compare_options(args)


def compare_dtypes(args: argparse.Namespace) -> None:
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
            print(f"{r['dtype']}: load {r['load_s']:.1f}s, prompt {r['prompt_tokens']} tokens, "
                  f"prefill {r['prefill_s']:.2f}s, decode {r['decode_tok_s']:.1f} tok/s "
                  f"({r['decode_tok_s'] / LLAMA_CPP_Q4_1_TOK_S:.2f}x llama.cpp Q4_1), "
                  f"30-token reply p50 {r['reply_p50_s']:.2f}s p90 {r['reply_p90_s']:.2f}s", flush=True)
    print(f"load average after {os.getloadavg()[0]:.2f}")


def compare_options(args: argparse.Namespace) -> None:
    print(f"cpus {os.cpu_count()}, load average before {os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="tgtwin-genbench-") as tmp:
        models_dir = args.models_dir or Path(tmp) / "models"
        names = [n.strip() for n in args.options.split(",") if n.strip()]
        options = build_options(names, models_dir, args.llama_site, Path(tmp), args.adapter)
        time_round_robin(options, args.replies, "idle")
        print(f"idle phase done, load average {os.getloadavg()[0]:.2f}", flush=True)
        if not args.no_training:
            process, _ = start_training(Path(tmp), models_dir)
            try:
                time_round_robin(options, args.replies, "training")
                still_training = process.poll() is None
            finally:
                process.terminate()
                process.wait(60)
            print(f"training phase done (run still training at the end: {still_training}), "
                  f"load average {os.getloadavg()[0]:.2f}", flush=True)

    reference = next((o for o in options if o.name == "llama.cpp"), None)
    print(f"\n{'option':14} {'idle p50':>9} {'p90':>6} {'train p50':>10} {'p90':>6} {'ratio':>6} "
          f"{'decode tok/s idle':>17} {'train':>6} {'x llama.cpp idle':>16} {'train':>6}")
    for o in options:
        p50 = percentile(o.idle, 0.5)
        row = f"{o.name:14} {p50:8.2f}s {percentile(o.idle, 0.9):5.2f}s"
        if o.training:
            t50 = percentile(o.training, 0.5)
            row += f" {t50:9.2f}s {percentile(o.training, 0.9):5.2f}s {t50 / p50:5.2f}x"
        else:
            row += f" {'-':>10} {'-':>6} {'-':>6}"
        for phase, width in (("idle", 17), ("training", 6)):
            tok_s = o.decode.get(phase)
            row += f" {tok_s:{width}.1f}" if tok_s else f" {'-':>{width}}"
        for phase, width in (("idle", 16), ("training", 6)):
            tok_s, ref = o.decode.get(phase), reference and reference.decode.get(phase)
            row += f" {tok_s / ref:{width - 1}.2f}x" if tok_s and ref else f" {'-':>{width}}"
        print(row)
    print("p50/p90: a whole reply (30 forced tokens after a 131-token prompt; product options: as the model"
          " makes them); decode tok/s: tokens 2-97 alone")
    print(f"load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
