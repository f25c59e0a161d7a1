"""Multi-process training on CPU: `torchrun --nproc_per_node N main.py train --preset tiny` (gloo)
against a single-process run with the same global batch, on the same seeded chats.

    python -m bench.distributed_bench [--processes 2] [--max-steps 8]

Checks and prints: the multi-process run left exactly one run row, one adapter directory and one
promotion decision, recorded `world_size`; every process trained (each logs its own
"process r/N training" line and trl's step logs come from all of them); and the loss curves of
the two runs side by side (per-device batch × N = the single run's batch); then a run whose last
process fails as it starts training (torchrun stops the main process, which marks the run failed
once and writes no adapter). Exit code 1 if a check fails. The suite runs the same check
(tests/training/test_distributed.py, marked slow-ish: ~40 s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from testdata.seed_chat import seed_data_dir

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True, slots=True)
class RunOutcome:
    runs: int
    adapters: int
    adapter_dirs: int
    promotions: int
    world_size: int | None
    status: str
    loss_curve: list[list[float]]
    seconds: float
    output: str


async def outcome(data_dir: Path, seconds: float, output: str) -> RunOutcome:
    from storage import Database
    from storage import training as training_queries
    from training.runs.report import stored_report

    async with Database.open(data_dir / "tgtwin.sqlite3") as db:
        runs = await training_queries.list_runs(db)
        adapters = await training_queries.list_adapters(db)
    reports = [stored_report(r.report) for r in runs]
    run, report = (runs[0], reports[0]) if runs else (None, None)
    decisions = sum(1 for r in reports if r is not None and r.promotion is not None)
    return RunOutcome(
        runs=len(runs), adapters=len(adapters),
        adapter_dirs=len([p for p in (data_dir / "adapters").glob("*") if not p.name.startswith(".tmp-")]),
        promotions=decisions, world_size=report.world_size if report else None,
        status=run.status if run else "missing", loss_curve=run.loss_curve if run else [], seconds=seconds,
        output=output,
    )


def environment(data_dir: Path, models_dir: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TGTWIN_")}
    env.update(TGTWIN_DATA_DIR=str(data_dir), TGTWIN_BASE_MODEL="tiny", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               PYTHONPATH=str(REPO_ROOT), OMP_NUM_THREADS="1")
    if models_dir is not None:  # a prebuilt `tiny` saves a few seconds per run
        shutil.copytree(models_dir / "tiny", data_dir / "models" / "tiny")
    return env


def run_torchrun(data_dir: Path, processes: int, max_steps: int, models_dir: Path | None) -> tuple[float, str]:
    env = environment(data_dir, models_dir)
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes),
               "--master_port", str(29400 + os.getpid() % 500),
               str(REPO_ROOT / "main.py"), "train", "--preset", "tiny", "--max-steps", str(max_steps)]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=data_dir.parent, env=env, capture_output=True, text=True, timeout=600,
                          check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"torchrun exited with {done.returncode}:\n{done.stdout[-4000:]}\n{done.stderr[-8000:]}")
    return seconds, done.stdout + done.stderr


FAILING_RANK_LAUNCHER = """
import os, runpy, sys
sys.path.insert(0, {repo!r})
import training.runs.run
if os.environ.get("RANK") == {rank!r}:
    def failing_train_adapter(*args, **kwargs):
        raise RuntimeError("injected failure on rank {rank}")
    training.runs.run.train_adapter = failing_train_adapter
sys.argv = ["main.py", "train", "--preset", "tiny"]
runpy.run_path({main!r}, run_name="__main__")
"""


def run_with_failing_rank(data_dir: Path, processes: int, rank: int, models_dir: Path | None) -> tuple[float, int]:
    """torchrun where process `rank` fails as it starts training (a launcher script replaces its
    `train_adapter`); returns (seconds, torchrun's exit code)."""
    env = environment(data_dir, models_dir)
    launcher = data_dir.parent / "failing_rank.py"
    launcher.write_text(FAILING_RANK_LAUNCHER.format(repo=str(REPO_ROOT), rank=str(rank),
                                                     main=str(REPO_ROOT / "main.py")), encoding="utf-8")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                           str(processes), str(launcher)], cwd=data_dir.parent, env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    return time.perf_counter() - started, done.returncode


def run_single(data_dir: Path, batch_size: int, max_steps: int, models_dir: Path | None) -> tuple[float, str]:
    """The same entry point in one process (a subprocess too, so both runs start alike)."""
    env = environment(data_dir, models_dir)
    code = ("import asyncio; from settings import load_settings; from training.runs.run import run_training; "
            f"asyncio.run(run_training(load_settings(), preset='tiny', trigger='cli', "
            f"overrides={{'batch_size': {batch_size}, 'max_steps': {max_steps}}}))")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], cwd=data_dir.parent, env=env, capture_output=True, text=True,
                          check=False, timeout=600)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"single-process run exited with {done.returncode}:\n{done.stderr[-3000:]}")
    return seconds, done.stdout + done.stderr


def compare(processes: int, max_steps: int, models_dir: Path | None, root: Path) -> tuple[RunOutcome, RunOutcome]:
    from training.config import load_preset

    per_device = load_preset("tiny").batch_size
    multi_dir, single_dir = root / "multi" / "data", root / "single" / "data"
    for path in (multi_dir, single_dir):
        asyncio.run(seed_data_dir(path))
    seconds, output = run_torchrun(multi_dir, processes, max_steps, models_dir)
    multi = asyncio.run(outcome(multi_dir, seconds, output))
    seconds, output = run_single(single_dir, per_device * processes, max_steps, models_dir)
    single = asyncio.run(outcome(single_dir, seconds, output))
    return multi, single


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.distributed_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--max-steps", type=int, default=8)
    parser.add_argument("--models-dir", type=Path, default=None, help="a models dir that already holds `tiny`")
    args = parser.parse_args()
    print(f"cpus {os.cpu_count()}, load average before {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="tgtwin-distbench-") as tmp:
        multi, single = compare(args.processes, args.max_steps, args.models_dir, Path(tmp))
    trained = [f"process {r}/{args.processes} training" in multi.output for r in range(1, args.processes)]
    print(f"torchrun x{args.processes}: {multi.seconds:.1f}s, status {multi.status}, run rows {multi.runs}, "
          f"adapters {multi.adapters} (dirs {multi.adapter_dirs}), promotion decisions {multi.promotions}, "
          f"world_size {multi.world_size}, non-main processes trained: {all(trained)}")
    print(f"single process (batch x{args.processes}): {single.seconds:.1f}s, status {single.status}")
    print("step  loss(torchrun)  loss(single)")
    for (step, a), (_, b) in zip(multi.loss_curve, single.loss_curve, strict=False):
        print(f"{int(step):4d}  {a:14.5f}  {b:12.5f}")
    with tempfile.TemporaryDirectory(prefix="tgtwin-distbench-") as tmp:
        data_dir = Path(tmp) / "data"
        asyncio.run(seed_data_dir(data_dir))
        seconds, code = run_with_failing_rank(data_dir, args.processes, args.processes - 1, args.models_dir)
        failed = asyncio.run(outcome(data_dir, seconds, ""))
    failed_once = code != 0 and failed.runs == 1 and failed.status == "failed" and failed.adapters == 0
    print(f"rank {args.processes - 1} failing: torchrun exit {code} after {seconds:.1f}s, run rows {failed.runs}, "
          f"status {failed.status}, adapters {failed.adapters}")
    print(f"load average after {os.getloadavg()[0]:.2f}")
    ok = failed_once and (multi.status == "succeeded"
                          and multi.runs == multi.adapters == multi.adapter_dirs == multi.promotions == 1
                          and multi.world_size == args.processes and all(trained))
    print(json.dumps({"checks_passed": ok}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
