"""Every `accelerate launch` config loads through accelerate's own launcher code (no GPU needed):
the config loader, the launch-argument validation and the environment the launcher would hand
to each process; the DeepSpeed plugin is built from that environment and reads our ZeRO json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = ROOT / "training" / "fitting" / "accelerate"
CONFIGS = sorted(CONFIG_DIR.glob("*.yaml"))
EXPECTED = {
    "ddp-2gpu.yaml": ("MULTI_GPU", 2, None),
    "ddp-4gpu.yaml": ("MULTI_GPU", 4, None),
    "deepspeed-zero2.yaml": ("DEEPSPEED", 2, 2),
    "deepspeed-zero3.yaml": ("DEEPSPEED", 2, 3),
}


def test_the_shipped_set() -> None:
    assert sorted(p.name for p in CONFIGS) == sorted(EXPECTED)


def _launch_args(config: Path, monkeypatch: pytest.MonkeyPatch):
    """What `accelerate launch --config_file <config> main.py train` resolves, before it spawns."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser

    monkeypatch.chdir(ROOT)  # the configs name their json relative to the repository root
    parser = launch_command_parser()
    args = parser.parse_args(["--config_file", str(config.relative_to(ROOT)), "main.py", "train", "--preset", "x"])
    return _validate_launch_command(args)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_config_loads_with_accelerate(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from accelerate.commands.config.config_args import ClusterConfig, load_config_from_file

    loaded = load_config_from_file(str(config))  # raises on unknown keys or bad enum values
    kind, processes, _ = EXPECTED[config.name]
    assert isinstance(loaded, ClusterConfig)
    assert loaded.distributed_type.value == kind
    assert loaded.num_processes == processes and loaded.num_machines == 1 and not loaded.use_cpu

    args, _, _ = _launch_args(config, monkeypatch)
    assert args.num_processes == processes
    assert args.training_script == "main.py" and args.training_script_args == ["train", "--preset", "x"]


@pytest.mark.parametrize("config", [c for c in CONFIGS if EXPECTED[c.name][0] == "MULTI_GPU"], ids=lambda p: p.name)
def test_ddp_launch_environment(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from accelerate.utils.launch import prepare_multi_gpu_env

    args, _, _ = _launch_args(config, monkeypatch)
    assert args.multi_gpu and not args.use_deepspeed
    args.main_process_port = 0  # a free port, so a busy 29500 changes nothing here
    env = prepare_multi_gpu_env(args)
    assert env["ACCELERATE_MIXED_PRECISION"] == "bf16"
    assert args.nproc_per_node == str(EXPECTED[config.name][1])


@pytest.mark.parametrize("config", [c for c in CONFIGS if EXPECTED[c.name][0] == "DEEPSPEED"], ids=lambda p: p.name)
def test_deepspeed_plugin_reads_our_zero_config(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from accelerate.utils import DeepSpeedPlugin
    from accelerate.utils.launch import prepare_deepspeed_cmd_env

    args, defaults, mp_from_config = _launch_args(config, monkeypatch)
    assert args.use_deepspeed
    # What `accelerate launch` sets just before calling the DeepSpeed launcher.
    fields = list(defaults.deepspeed_config) + (["mixed_precision"] if mp_from_config else [])
    args.deepspeed_fields_from_accelerate_config = ",".join(fields)
    args.main_process_port = 0
    _, env = prepare_deepspeed_cmd_env(args)
    for key, value in env.items():
        if key.startswith("ACCELERATE_"):
            monkeypatch.setenv(key, value)
    # Accelerate refuses YAML settings that the json should own (e.g. mixed_precision): this is
    # the check that would fail at launch time on a GPU machine.
    plugin = DeepSpeedPlugin()
    stage = EXPECTED[config.name][2]
    assert plugin.zero_stage == stage
    assert plugin.hf_ds_config.config["zero_optimization"]["stage"] == stage


@pytest.mark.parametrize("stage", [2, 3])
def test_zero_json_has_required_keys(stage: int) -> None:
    config = json.loads((CONFIG_DIR / f"zero{stage}.json").read_text())
    assert config["zero_optimization"]["stage"] == stage
    # Left to the trainer so the preset decides; a fixed number here would silently disagree with it.
    for key in ("train_micro_batch_size_per_gpu", "gradient_accumulation_steps", "train_batch_size",
                "gradient_clipping"):
        assert config[key] == "auto"
    assert config["bf16"]["enabled"] == "auto"
    if stage == 3:
        assert config["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True


def test_readme_shows_every_config() -> None:
    readme = (CONFIG_DIR / "README.md").read_text()
    for config in CONFIGS:
        assert config.name in readme
    assert "accelerate launch --config_file training/fitting/accelerate/" in readme
