"""scripts/gpu_check.sh: its syntax, and its --dry-run (the CPU path of the same Python part that
trains, evaluates and serves on a GPU). The CUDA path itself needs a GPU (see README, "CUDA path")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gpu_check.sh"


def test_the_script_parses_and_refuses_unknown_arguments():
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
    done = subprocess.run(["bash", str(SCRIPT), "--bogus"], capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "unknown argument --bogus" in done.stderr


@pytest.mark.slow
def test_dry_run_imports_trains_evaluates_and_serves(tmp_path):
    env = dict(os.environ, GPU_CHECK_PYTHON=sys.executable)
    done = subprocess.run(["bash", str(SCRIPT), "--dry-run"], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1].removeprefix("GPU_CHECK "))
    assert figures["steps"] == 3 and figures["steps_per_s"] > 0
    assert figures["perplexity_new"] < figures["perplexity_base"]
    assert figures["served_on"] == "cpu"
