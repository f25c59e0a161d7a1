"""One table of ratios from the `bench/` scripts: `make bench` (`python -m bench.report`).

Runs each bench as a child process, one after the other, with sizes that fit a 2-core machine in
about ten minutes, reads its figures (one JSON object where the script has `--json`, else its
printed lines), measures this machine's memory copy bandwidth in this process, and prints one
Markdown table. A bench that is missing, fails or prints something unreadable shows why instead
of a number; nothing is estimated.

    python -m bench.report [--quick] [--only import,dataset,load,generate,train,voice]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent


class BenchFailed(RuntimeError):
    """A bench could not be run or its output could not be read."""


@dataclass(frozen=True, slots=True)
class BenchRun:
    """One bench script and the arguments the report runs it with."""

    name: str
    module: str
    args: tuple[str, ...]
    quick_args: tuple[str, ...]
    timeout_s: int
    parse: Callable[[str], dict[str, Any]]
    dir_args: Callable[[Path], tuple[str, ...]] | None = None
    """Arguments that point the bench at the report's shared data dir (one model conversion)."""


@dataclass(frozen=True, slots=True)
class Row:
    figure: str
    measured: str
    against: str
    ratio: str


# ---------------------------------------------------------------------- parsing the benches' output

def _number(text: str) -> float:
    return float(text.replace(",", ""))


def _search(pattern: str, text: str, what: str) -> re.Match[str]:
    match = re.search(pattern, text, re.M)
    if match is None:
        raise BenchFailed(f"no {what} line in the output")
    return match


def parse_import(text: str) -> dict[str, Any]:
    """`bench.import_bench`: import vs raw `executemany` rows per second."""
    imp = _search(r"^import: ([\d,]+) rows in ([\d.]+) s = ([\d,]+) messages/s, peak RSS ([\d,]+) MB", text, "import")
    raw = _search(r"^raw executemany: ([\d,]+) rows in ([\d.]+) s = ([\d,]+) rows/s", text, "raw executemany")
    return {
        "rows": int(_number(imp[1])), "import_s": _number(imp[2]), "import_rows_per_s": _number(imp[3]),
        "import_peak_rss_mb": _number(imp[4]), "raw_s": _number(raw[2]), "raw_rows_per_s": _number(raw[3]),
    }


def parse_train(text: str) -> dict[str, Any]:
    """`bench.train_bench`: real-token share and real tokens/s of each variant (one must be the
    padded baseline), e.g. `preset (length-grouped)`, `packed padding-free`, `padded baseline`."""
    variants = {
        label.strip(): {
            "steps": int(steps), "seconds": float(seconds), "real_tokens": int(real), "positions": int(positions),
            "real_token_share": float(share) / 100, "tokens_per_s": _number(speed),
        }
        for label, steps, seconds, real, positions, share, speed in re.findall(
            r"^(.+?)\s*: (\d+) steps, ([\d.]+)s, real tokens (\d+), positions (\d+), "
            r"real-token share ([\d.]+)%, ([\d,]+) real tokens/s", text, re.M)
    }
    if "padded baseline" not in variants:
        raise BenchFailed("no padded baseline line in the output")
    head = _search(r"^preset (\S+), base (\S+), (\d+) examples", text, "preset")
    return {"preset": head[1], "base": head[2], "examples": int(head[3]), "variants": variants}


def parse_load(text: str) -> dict[str, Any]:
    """`bench.load_bench`: throughput of the live pipeline and what reached the wrong chats."""
    fed = _search(r"^messages fed:\s+(\d+) across (\d+) chats", text, "messages fed")
    unsafe = _search(r"^sent to non-whitelisted chats:\s+(\d+) messages, (\d+) drafts", text, "non-whitelisted")
    draft_mode = _search(r"^sent to draft-mode chats:\s+(\d+) messages", text, "draft-mode")
    wall = _search(r"^wall time:\s+([\d.]+) s \(([\d.]+) messages/s", text, "wall time")
    coverage = _search(r"^reply log coverage:\s+(\d+)/(\d+) messages", text, "reply log coverage")
    return {
        "messages": int(fed[1]), "chats": int(fed[2]), "sent_to_non_whitelisted": int(unsafe[1]) + int(unsafe[2]),
        "sent_to_draft_mode": int(draft_mode[1]), "seconds": float(wall[1]), "messages_per_s": float(wall[2]),
        "logged": int(coverage[1]), "expected_logged": int(coverage[2]),
    }


def parse_generate(text: str) -> dict[str, Any]:
    """`bench.generate_bench`: decode tokens/s and 30-token reply latency per dtype."""
    lines = re.findall(
        r"^(\w+): load [\d.]+s, prompt (\d+) tokens, prefill ([\d.]+)s, decode ([\d.]+) tok/s.*?"
        r"30-token reply p50 ([\d.]+)s p90 ([\d.]+)s", text, re.M)
    if not lines:
        raise BenchFailed("no per-dtype decode line in the output")
    return {"dtypes": {
        dtype: {"prompt_tokens": int(prompt), "prefill_s": float(prefill), "decode_tokens_per_s": float(decode),
                "reply_p50_s": float(p50), "reply_p90_s": float(p90)}
        for dtype, prompt, prefill, decode, p50, p90 in lines
    }}


def parse_json(text: str) -> dict[str, Any]:
    """The last line of a `--json` bench: one JSON object."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    try:
        value = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError as exc:
        raise BenchFailed(f"--json output is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise BenchFailed("--json output is not one JSON object")
    return value


BENCHES = (
    BenchRun("import", "bench.import_bench", ("--messages", "200000"), ("--messages", "20000"), 240, parse_import),
    BenchRun("dataset", "bench.dataset_bench", ("--messages", "100000", "--json"),
             ("--messages", "20000", "--repeat", "1", "--json"), 240, parse_json),
    BenchRun("load", "bench.load_bench", ("--messages", "1000"), ("--messages", "200"), 240, parse_load),
    BenchRun("generate", "bench.generate_bench", ("--replies", "3", "--decode-tokens", "32"),
             ("--replies", "2", "--decode-tokens", "16", "--dtypes", "bf16"), 600,
             parse_generate, dir_args=lambda data: ("--models-dir", str(data / "models"))),
    # Last: the slowest, and it reuses the model the generate bench converted.
    BenchRun("train", "bench.train_bench", ("--examples", "16"), ("--examples", "4"), 600, parse_train,
             dir_args=lambda data: ("--data-dir", str(data))),
    # One real default run and its evaluation (blind judge, style distance, rhythm, hits@1).
    BenchRun("voice", "bench.voice_bench", ("--json",), ("--max-steps", "4", "--eval-generate", "12", "--json"), 1800,
             parse_json, dir_args=lambda data: ("--data-dir", str(data))),
)
BUNDLED_MODEL = "bundled:smollm2-135m"
DTYPE_BYTES = {"bf16": 2, "fp16": 2, "fp32": 4}


def run_bench(bench: BenchRun, data_dir: Path, quick: bool) -> dict[str, Any]:
    """Run one bench in a child process and return its parsed figures (raises BenchFailed)."""
    if not (ROOT / (bench.module.replace(".", "/") + ".py")).is_file():
        raise BenchFailed(f"{bench.module.replace('.', '/')}.py does not exist")
    args = list(bench.quick_args if quick else bench.args)
    if bench.dir_args is not None:
        args += bench.dir_args(data_dir)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env = {k: v for k, v in env.items() if not k.startswith("TGTWIN_")}  # the benches set their own
    try:
        done = subprocess.run(
            [sys.executable, "-m", bench.module, *args], cwd=ROOT, env=env,
            capture_output=True, text=True, timeout=bench.timeout_s,
        )
    except subprocess.TimeoutExpired:
        raise BenchFailed(f"did not finish in {bench.timeout_s} s") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no error output)"])[-1]
        raise BenchFailed(f"exit {done.returncode}: {last[:200]}")
    return bench.parse(done.stdout)


def count_parameters(checkpoint: Path) -> int:
    """Weights in a safetensors checkpoint, from the file headers (nothing is loaded)."""
    from safetensors import safe_open

    total = 0
    for path in sorted(checkpoint.glob("*.safetensors")):
        with safe_open(str(path), framework="numpy") as f:
            for name in f.keys():
                shape = f.get_slice(name).get_shape()
                count = 1
                for dim in shape:
                    count *= dim
                total += count
    if total == 0:
        raise BenchFailed(f"no safetensors weights in {checkpoint}")
    return total


# ---------------------------------------------------------------------- memory bandwidth

def copy_bandwidth(megabytes: int = 256, repeat: int = 7) -> dict[str, float]:
    """Best-of-`repeat` bytes/s over a 256 MiB array: a copy with numpy and with torch (read + write
    counted, as STREAM's copy does) and a torch sum (read only). A decode step reads every weight
    once, so the fastest of these bounds decode speed."""
    import numpy as np
    import torch

    nbytes = megabytes * 2**20
    src = np.ones(nbytes // 8)
    dst = np.empty_like(src)
    best_np = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        np.copyto(dst, src)
        best_np = min(best_np, time.perf_counter() - started)
    del src, dst
    tsrc = torch.ones(nbytes // 4)
    tdst = torch.empty_like(tsrc)
    best_torch = best_read = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        tdst.copy_(tsrc)
        best_torch = min(best_torch, time.perf_counter() - started)
        started = time.perf_counter()
        tsrc.sum()
        best_read = min(best_read, time.perf_counter() - started)
    return {"numpy_bytes_per_s": 2 * nbytes / best_np, "torch_bytes_per_s": 2 * nbytes / best_torch,
            "torch_read_bytes_per_s": nbytes / best_read, "torch_threads": float(torch.get_num_threads())}


def best_bandwidth(bandwidth: dict[str, float]) -> float:
    """The fastest rate measured: a decode step cannot stream its weights faster than this."""
    return max(v for k, v in bandwidth.items() if k.endswith("_bytes_per_s"))


# ---------------------------------------------------------------------- the table

def _failed(figure: str, error: BaseException) -> Row:
    return Row(figure, f"not measured: {error}", "", "")


def build_rows(results: dict[str, dict[str, Any] | BaseException], bandwidth: dict[str, float]) -> list[Row]:
    """Turn the benches' figures into the table's rows (pure: formatting and division only)."""
    rows: list[Row] = []

    imp = results.get("import")
    if isinstance(imp, dict):
        rows.append(Row(
            f"import {imp['rows']:,} messages (export → SQLite)",
            f"{imp['import_rows_per_s']:,.0f} msg/s, peak RSS {imp['import_peak_rss_mb']:.0f} MB",
            f"raw sqlite3 executemany {imp['raw_rows_per_s']:,.0f} rows/s",
            f"{imp['import_rows_per_s'] / imp['raw_rows_per_s']:.2f}",
        ))
    elif imp is not None:
        rows.append(_failed("import vs raw sqlite3", imp))

    data = results.get("dataset")
    if isinstance(data, dict):
        rows.append(Row(
            f"dataset build, {data['rows']:,} rows → {data['examples']:,} examples",
            f"{data['build_s']:.3f} s",
            f"raw row read {data['raw_read_s']:.3f} s (typed read {data['typed_read_s']:.3f} s)",
            f"{data['build_s'] / data['raw_read_s']:.1f}× read",
        ))
    elif data is not None:
        rows.append(_failed("dataset build vs row read", data))

    train = results.get("train")
    if isinstance(train, dict):
        padded = train["variants"]["padded baseline"]
        for label, figures in train["variants"].items():
            if label == "padded baseline":
                continue
            rows.append(Row(
                f"training, {label} ({train['examples']} examples, preset {train['preset']})",
                f"real-token share {figures['real_token_share']:.1%}",
                f"padded baseline {padded['real_token_share']:.1%}",
                f"{figures['real_token_share'] / padded['real_token_share']:.2f}",
            ))
            rows.append(Row(
                f"training speed, {label}",
                f"{figures['tokens_per_s']:,.0f} real tokens/s",
                f"padded baseline {padded['tokens_per_s']:,.0f} real tokens/s",
                f"{figures['tokens_per_s'] / padded['tokens_per_s']:.2f}",
            ))
    elif train is not None:
        rows.append(_failed("training real-token share", train))

    gen = results.get("generate")
    if isinstance(gen, dict):
        best = best_bandwidth(bandwidth)
        for dtype, figures in gen["dtypes"].items():
            weight_bytes = gen["parameters"] * DTYPE_BYTES[dtype]
            bound = best / weight_bytes  # every decode step reads every weight once
            rows.append(Row(
                f"decode, SmolLM2-135M {dtype} ({weight_bytes / 2**20:.0f} MiB of weights)",
                f"{figures['decode_tokens_per_s']:.1f} tokens/s; 30-token reply p50 {figures['reply_p50_s']:.2f} s",
                f"memory-bandwidth bound {bound:.0f} tokens/s ({best / 1e9:.1f} GB/s ÷ weights)",
                f"{figures['decode_tokens_per_s'] / bound:.2f}",
            ))
    elif gen is not None:
        rows.append(_failed("decode vs bandwidth bound", gen))

    voice = results.get("voice")
    if isinstance(voice, dict):
        from bench.voice_bench import voice_rows

        rows.extend(Row(*row) for row in voice_rows(voice))
    elif voice is not None:
        rows.append(_failed("blind judge, style distance, hits@1", voice))

    load = results.get("load")
    if isinstance(load, dict):
        rows.append(Row(
            f"live pipeline, {load['messages']:,} messages in {load['chats']} chats",
            f"{load['messages_per_s']:.0f} msg/s, {load['sent_to_non_whitelisted']} sent to non-whitelisted chats",
            f"reply log {load['logged']:,}/{load['expected_logged']:,} messages",
            f"{load['logged'] / load['expected_logged']:.2f}",
        ))
    elif load is not None:
        rows.append(_failed("live pipeline", load))
    return rows


def render_table(rows: list[Row]) -> str:
    lines = ["| figure | measured | against | ratio |", "| --- | --- | --- | --- |"]
    lines += [f"| {r.figure} | {r.measured} | {r.against} | {r.ratio} |" for r in rows]
    return "\n".join(lines)


def machine_line(bandwidth: dict[str, float], load_before: float) -> str:
    import numpy
    import torch

    return (f"{platform.machine()} {os.cpu_count()} cores (load average {load_before:.1f} before, "
            f"{os.getloadavg()[0]:.1f} after: other work slows every number), Python {platform.python_version()}, "
            f"torch {torch.__version__} ({int(bandwidth['torch_threads'])} threads), numpy {numpy.__version__}; "
            f"memory bandwidth: copy {bandwidth['numpy_bytes_per_s'] / 1e9:.1f} GB/s (numpy), "
            f"{bandwidth['torch_bytes_per_s'] / 1e9:.1f} GB/s (torch), read+write; "
            f"read {bandwidth['torch_read_bytes_per_s'] / 1e9:.1f} GB/s (torch sum)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="Small sizes (a smoke run, ~2 minutes).")
    parser.add_argument("--only", default="", help="Comma-separated bench names: " + ",".join(b.name for b in BENCHES))
    args = parser.parse_args(argv)
    chosen = {name.strip() for name in args.only.split(",") if name.strip()}
    unknown = chosen - {b.name for b in BENCHES}
    if unknown:
        parser.error(f"unknown bench: {', '.join(sorted(unknown))}")

    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    bandwidth = copy_bandwidth()
    results: dict[str, dict[str, Any] | BaseException] = {}
    # One data dir for the whole report: the bundled model is converted once, not once per bench.
    with tempfile.TemporaryDirectory(prefix="tgtwin-report-") as tmp:
        for bench in BENCHES:
            if chosen and bench.name not in chosen:
                continue
            t0 = time.perf_counter()
            print(f"running {bench.module} ...", file=sys.stderr, flush=True)
            try:
                results[bench.name] = run_bench(bench, Path(tmp) / "data", args.quick)
                if bench.name == "generate":
                    from model.sources import resolve_base_dir

                    checkpoint = resolve_base_dir(BUNDLED_MODEL, Path(tmp) / "data" / "models")  # built by the bench
                    results[bench.name]["parameters"] = count_parameters(checkpoint)
            except BenchFailed as exc:
                results[bench.name] = exc
            print(f"  {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    print(machine_line(bandwidth, load_before))
    print()
    print(render_table(build_rows(results, bandwidth)))
    print()
    print(f"({'quick sizes, ' if args.quick else ''}total {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
