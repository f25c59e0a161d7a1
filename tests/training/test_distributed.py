"""Multi-process training: the rank logic, and real `torchrun --nproc_per_node 2` runs on CPU
(gloo, the tiny model): one that succeeds, one whose main process fails (~35 s together), and two
ranks building the same fresh caches (~15 s)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.distributed_bench import compare, environment, outcome, run_torchrun
from model.sources import CHECKPOINT_FILES, load_base
from training.fitting.distributed import (
    Failure,
    Rank,
    RankError,
    current_rank,
    shards_parameters,
    share,
)


def test_rank_comes_from_the_launcher_environment():
    assert current_rank({}) == Rank(0, 0, 1) and not current_rank({}).distributed
    rank = current_rank({"RANK": "3", "LOCAL_RANK": "1", "WORLD_SIZE": "4"})
    assert rank == Rank(3, 1, 4) and rank.distributed and not rank.is_main


@pytest.mark.parametrize("env", [
    {"WORLD_SIZE": "2", "RANK": "2"}, {"WORLD_SIZE": "0"}, {"WORLD_SIZE": "two"}, {"RANK": "-1", "WORLD_SIZE": "2"},
])
def test_an_impossible_layout_is_refused(env):
    with pytest.raises(RankError):
        current_rank(env)


def test_single_process_share_is_a_no_op():
    assert share(Rank(), {"a": 1}) == {"a": 1}
    assert share(Rank(), failure=ValueError("bad")) == Failure("ValueError: bad")


def test_only_sharding_setups_store_4bit_weights_in_the_compute_dtype(tmp_path):
    assert not shards_parameters({})
    assert shards_parameters({"ACCELERATE_USE_FSDP": "true"})
    assert not shards_parameters({"ACCELERATE_USE_DEEPSPEED": "true", "ACCELERATE_DEEPSPEED_ZERO_STAGE": "2"})
    repo = Path(__file__).resolve().parents[2] / "training" / "fitting" / "accelerate"
    for name, expected in (("zero2.json", False), ("zero3.json", True)):
        env = {"ACCELERATE_USE_DEEPSPEED": "true", "ACCELERATE_DEEPSPEED_CONFIG_FILE": str(repo / name)}
        assert shards_parameters(env) is expected
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert not shards_parameters({"ACCELERATE_USE_DEEPSPEED": "true", "ACCELERATE_DEEPSPEED_CONFIG_FILE": str(broken)})


@pytest.fixture
def models_dir(tiny_model_dir: Path) -> Path:
    return tiny_model_dir.parent


def test_torchrun_two_processes_make_one_run_that_matches_one_process(tmp_path, models_dir, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # the subprocesses set it themselves
    multi, single = compare(2, 6, models_dir, tmp_path)
    assert multi.status == single.status == "succeeded"
    assert (multi.runs, multi.adapters, multi.adapter_dirs, multi.promotions) == (1, 1, 1, 1)
    assert multi.world_size == 2 and single.world_size == 1
    assert "process 1/2 training" in multi.output  # the second process really trained
    assert len(multi.loss_curve) == len(single.loss_curve) >= 5
    # Same global batch, same examples per step: the same losses up to float summation order.
    for (_, a), (_, b) in zip(multi.loss_curve, single.loss_curve, strict=True):
        assert a == pytest.approx(b, rel=0.01)


def test_a_failure_on_the_main_process_fails_the_run_once(tmp_path, models_dir):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    from storage import Database

    async def create_empty() -> None:
        async with Database.open(data_dir / "tgtwin.sqlite3"):
            pass

    asyncio.run(create_empty())  # no chats: the main process finds no training examples
    with pytest.raises(RuntimeError) as failed:
        run_torchrun(data_dir, 2, 2, models_dir)
    log = str(failed.value)
    assert "no training examples" in log
    assert "main process failed before training" in log  # the other process stopped on the shared failure
    result = asyncio.run(outcome(data_dir, 0.0, ""))
    assert (result.runs, result.status, result.adapters, result.adapter_dirs) == (1, "failed", 0, 0)


CACHE_RACE = """
import json, logging
from pathlib import Path

import torch.distributed as dist

from model.ct2_export import ensure_export
from model.sources import resolve_base_dir

logging.basicConfig(level=logging.INFO, format="LOG %(message)s")
dist.init_process_group("gloo")
rank, root = dist.get_rank(), Path({root!r})
alone = resolve_base_dir("tiny", root / f"rank{{rank}}")  # each rank builds one alone, inside the group
dist.barrier()
shared = resolve_base_dir("tiny", root / "shared")  # both ranks at once, as `main.py train` does
export = ensure_export("tiny", root / "shared")
print("RESULT " + json.dumps({{"rank": rank, "alone": sorted(p.name for p in alone.iterdir()),
                              "shared": str(shared), "export": str(export)}}), flush=True)
dist.destroy_process_group()
"""


def test_torchrun_ranks_build_a_fresh_cache_once_and_whole(tmp_path: Path) -> None:
    """The first `torchrun --nproc_per_node 2 main.py train` on a fresh data dir could leave the base
    model's cache with a tokenizer and no weights (transformers writes weights on rank 0 only): every
    rank now builds a whole cache, and two ranks racing build each cache (base, CTranslate2 export) once."""
    root = tmp_path / "models"
    script = tmp_path / "cache_race.py"
    script.write_text(CACHE_RACE.format(root=str(root)), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(script)], cwd=tmp_path, env=environment(tmp_path / "data", None), capture_output=True,
                          text=True, timeout=600, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    results = sorted((json.loads(line.split("RESULT ", 1)[1]) for line in output.splitlines() if "RESULT " in line),
                     key=lambda r: r["rank"])
    assert [r["rank"] for r in results] == [0, 1]
    for result in results:
        assert set(CHECKPOINT_FILES) <= set(result["alone"]), result
    alone = [(root / f"rank{r}" / "tiny" / "model.safetensors").read_bytes() for r in (0, 1)]
    assert alone[0] == alone[1]  # rank 1's cache is the same checkpoint as rank 0's
    shared = root / "shared"
    assert {r["shared"] for r in results} == {str(shared / "tiny")} and len({r["export"] for r in results}) == 1
    assert output.count(f"building base model tiny into {shared / 'tiny'}") == 1
    assert output.count("building the CTranslate2 export of tiny into") == 1
    model, _ = load_base("tiny", shared)
    assert sum(p.numel() for p in model.parameters()) > 10_000
