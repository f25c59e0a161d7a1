"""Presets, style metrics, the promotion gate and promote/rollback."""

from __future__ import annotations

import pytest

from storage import InvalidValue
from storage import training as training_queries
from training.config import PresetError, TrainConfig, list_presets, load_preset
from training.runs.promotion import decide_promotion, promote_adapter, rollback_adapter


def test_every_shipped_preset_loads():
    names = list_presets()
    assert {"tiny", "smollm2-cpu", "qwen2.5-7b-qlora", "yandexgpt-5-lite-8b-qlora"} <= set(names)
    for name in names:
        config = load_preset(name)
        assert config.name == name and config.description
    assert load_preset("qwen2.5-7b-qlora").quantization == "4bit"
    assert load_preset("smollm2-cpu").base_model is None  # follows TGTWIN_BASE_MODEL


def test_config_checks_and_overrides():
    with pytest.raises(PresetError, match="lora_r"):
        TrainConfig(name="bad", lora_r=0)
    with pytest.raises(PresetError, match="unknown"):
        load_preset("tiny").with_overrides(nope=1)
    with pytest.raises(PresetError, match="no preset"):
        load_preset("missing")
    assert load_preset("tiny").with_overrides(max_steps=3).max_steps == 3


def test_gate_refuses_a_worse_adapter():
    assert decide_promotion(10.0, 12.0, 0.0, "base model").promote
    assert not decide_promotion(12.5, 12.0, 0.0, "adapter a").promote
    assert not decide_promotion(11.9, 12.0, 0.05, "adapter a").promote  # not by the margin
    assert decide_promotion(11.0, 12.0, 0.05, "adapter a").promote
    assert not decide_promotion(None, 12.0, 0.0, "base model").promote
    assert not decide_promotion(float("nan"), 12.0, 0.0, "base model").promote
    assert not decide_promotion(5.0, 12.0, 0.0, "base model", servable=False).promote


class RecordingModel:
    def __init__(self) -> None:
        self.swaps: list[str | None] = []

    async def swap_adapter(self, adapter_dir: str | None) -> None:
        self.swaps.append(adapter_dir)


async def test_promote_and_rollback_swap_the_live_model(db):
    model = RecordingModel()
    await training_queries.add_adapter(db, "a1", "/adapters/a1", "tiny", None)
    await training_queries.add_adapter(db, "a2", "/adapters/a2", "tiny", None)
    with pytest.raises(InvalidValue):
        await rollback_adapter(db, model)
    await promote_adapter(db, model, "a1", "test")
    await promote_adapter(db, model, "a2", "test")
    assert (await training_queries.promoted_adapter(db)).id == "a2"
    previous = await rollback_adapter(db, model)
    assert previous is not None and previous.id == "a1"
    assert model.swaps == ["/adapters/a1", "/adapters/a2", "/adapters/a1"]


class FailingModel:
    async def swap_adapter(self, adapter_dir: str | None) -> None:
        raise OSError("missing adapter directory")


async def test_a_failed_swap_changes_no_record(db):
    await training_queries.add_adapter(db, "a1", "/adapters/a1", "tiny", None)
    await training_queries.add_adapter(db, "a2", "/adapters/a2", "tiny", None)
    await promote_adapter(db, RecordingModel(), "a1", "test")
    with pytest.raises(OSError):
        await promote_adapter(db, FailingModel(), "a2", "test")
    assert (await training_queries.promoted_adapter(db)).id == "a1"
    await promote_adapter(db, RecordingModel(), "a2", "test")
    with pytest.raises(OSError):
        await rollback_adapter(db, FailingModel())
    assert (await training_queries.promoted_adapter(db)).id == "a2"


def test_lora_can_be_limited_to_the_last_layers():
    from training.fitting.fit import lora_config

    config = load_preset("tiny")
    assert lora_config(config, 30).layers_to_transform is None
    with pytest.raises(PresetError, match="lora_last_layers"):
        config.with_overrides(lora_last_layers=4)
    limited = lora_config(config.with_overrides(lora_last_layers=4, target_modules=["q_proj", "v_proj"]), 30)
    assert limited.layers_to_transform == [26, 27, 28, 29] and limited.layers_pattern == "layers"
