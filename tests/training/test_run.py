"""The real training entry point on the `tiny` base model and preset (seconds on CPU)."""

from __future__ import annotations

import asyncio
import json
import stat

import pytest

from storage import training as training_queries
from testdata.seed_chat import seed_chat
from training.config import load_preset
from training.evaluation.perplexity import encode_examples
from training.fitting.fit import fit
from training.runs import continual
from training.runs.controller import TrainingController
from training.runs.run import run_training


async def test_tiny_run_trains_versions_gates_and_serves(db, tiny_settings, open_umask):
    from peft import PeftModel

    from model.dialogue import Dialogue, Turn
    from model.generation import GenerationSettings, generate_replies
    from model.prompt import PromptFormat
    from model.sources import load_base

    settings = tiny_settings
    await seed_chat(db)
    stale = settings.adapters_dir / "stale"  # an adapter promoted long ago, its serving export left behind
    (stale / "ct2-int8").mkdir(parents=True)
    await training_queries.add_adapter(db, "stale", str(stale), "tiny", None)
    first = await run_training(settings, preset="tiny", trigger="test")
    run = await training_queries.get_run(db, first.run_id)
    assert run.status == "succeeded" and run.progress == 1.0
    losses = [loss for _, loss in run.loss_curve]
    assert len(losses) >= 3 and losses[-1] < losses[0]
    names = {p.name for p in first.adapter_dir.iterdir()}
    assert {"adapter_config.json", "prompt_format.json", "meta.json"} <= names
    assert not list(settings.adapters_dir.glob(".tmp-*"))
    assert mode(first.adapter_dir) == 0o700 and mode(settings.data_dir / "checkpoints") == 0o700  # private
    assert not (settings.data_dir / "runs" / f"run-{first.run_id}.pid").exists()  # no process trains it now
    assert (first.adapter_dir / "ct2-int8" / "model.bin").is_file()  # promoted: exported for CPU serving
    assert stale.is_dir() and not (stale / "ct2-int8").exists()  # only the promoted and the one before keep theirs
    meta = json.loads((first.adapter_dir / "meta.json").read_text())
    assert meta["base_model"] == "tiny" and meta["preset"] == "tiny" and meta["data"]["train"] > 0
    ppl = run.report["evaluation"]["perplexity"]
    assert ppl["new"] < ppl["base"] and first.promoted
    assert (await training_queries.promoted_adapter(db)).id == first.adapter_id
    # runs batch by length (unpacked: in coverage order); 0.95 without memory, whose block makes 2 of
    # these 12 rows ~60 tokens longer than the rest
    assert run.report["fit"]["real_token_share"] > 0.8
    assert run.report["data"]["memory_conversations"] > 0
    assert run.report["evaluation"]["heldout_examples"] > 0
    evaluation = run.report["evaluation"]
    assert evaluation["generated"] > 0 and evaluation["hits_at_1"]["new"] is not None
    assert evaluation["reference"]["label"] == "base model" and run.report["promotion"]["criterion"] == "perplexity"
    assert "voice not judged" in run.report["promotion"]["reason"]  # the tiny preset generates 2 replies

    # a barely trained adapter (started afresh) is worse than the promoted one: kept, not served
    worse = await run_training(settings, preset="tiny", trigger="test",
                               overrides={"max_steps": 1, "learning_rate": 1e-7, "fresh": True})
    report = (await training_queries.get_run(db, worse.run_id)).report
    assert report["evaluation"]["perplexity"]["promoted"] is not None
    assert not worse.promoted and not report["promotion"]["promote"]
    assert (await training_queries.promoted_adapter(db)).id == first.adapter_id
    assert (await training_queries.get_adapter(db, worse.adapter_id)).path == str(worse.adapter_dir)
    assert not (worse.adapter_dir / "ct2-int8").exists()  # nothing served: nothing exported

    # the saved adapter loads onto a fresh base and replies through the serving code path
    base, tokenizer = load_base("tiny", settings.models_dir)
    model = PeftModel.from_pretrained(base, str(first.adapter_dir))
    fmt = PromptFormat.load(first.adapter_dir)
    dialogue = Dialogue((Turn("partner", ("hi",), "Anna"),), "Anna", "friend")
    replies = generate_replies(model, tokenizer, fmt, dialogue, GenerationSettings(max_new_tokens=8), n=2)
    assert len(replies) == 2 and all(isinstance(r, list) for r in replies)


async def test_a_workers_adapter_is_served_by_its_server_before_it_is_recorded(db, tiny_settings):
    """The real worker under the controller: the gate promotes, the worker leaves the promotion to
    the server, which swaps its model first and then records it."""
    settings = tiny_settings.model_copy(update={"training_preset": "tiny", "serving_engine": "torch"})
    await seed_chat(db)
    swaps = []

    class LiveModel:
        async def swap_adapter(self, adapter_dir):
            swaps.append((adapter_dir, await training_queries.promoted_adapter(db)))

    controller = TrainingController(settings, LiveModel())
    run_id = await controller.start_run("test")
    await asyncio.wait_for(controller.wait(), 600)
    run = await training_queries.get_run(db, run_id)
    log_tail = (settings.logs_dir / f"training-run-{run_id}.log").read_text()[-3000:]
    assert run.status == "succeeded" and run.report["promotion"]["promote"], log_tail
    assert swaps == [(str(settings.adapters_dir / run.adapter_id), None)]  # swapped while nothing was recorded
    assert (await training_queries.promoted_adapter(db)).id == run.adapter_id
    assert "promoted by the gate, for its server to serve" in log_tail


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_failed_run_changes_nothing_served(db, tiny_settings, monkeypatch):
    settings = tiny_settings
    await seed_chat(db, exchanges=12)
    await training_queries.add_adapter(db, "served", str(settings.adapters_dir / "served"), "tiny", None)
    await training_queries.promote(db, "served", "test")

    def broken_fit(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(continual, "fit", broken_fit)
    with pytest.raises(RuntimeError):
        await run_training(settings, preset="tiny", trigger="test")
    (run,) = await training_queries.list_runs(db)
    assert run.status == "failed" and "out of memory" in run.error
    assert (await training_queries.promoted_adapter(db)).id == "served"
    assert [a.id for a in await training_queries.list_adapters(db)] == ["served"]


async def test_fit_leaves_base_weights_and_resumes_from_checkpoint(db, tiny_settings, tmp_path):
    settings = tiny_settings
    from model.prompt import PromptFormat
    from model.sources import load_base
    from training.data.dataset import load_dataset

    await seed_chat(db, exchanges=20)
    examples = (await load_dataset(db, settings)).train
    config = load_preset("tiny").with_overrides(max_steps=3, save_steps=3)
    model, tokenizer = load_base("tiny", settings.models_dir, for_training=True)
    rows = encode_examples(tokenizer, PromptFormat.for_tokenizer(tokenizer), examples, config.max_length)
    assert all(any(label != -100 for label in r["labels"]) and r["labels"][0] == -100 for r in rows)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    peft_model, result = fit(model, tokenizer, rows, config, tmp_path / "ckpt")
    assert result.steps == 3 and result.real_token_share == 1.0
    after = peft_model.state_dict()
    lora = {k: v for k, v in after.items() if "lora_" in k}
    assert lora and any(float(v.abs().sum()) > 0 for k, v in lora.items() if "lora_B" in k)
    for key, value in after.items():
        if "lora_" in key:
            continue
        original = key.replace("base_model.model.", "", 1).replace(".base_layer", "")
        assert (before[original] == value).all(), key

    # an interrupted run of the same data picks up from its last checkpoint
    model2, _ = load_base("tiny", settings.models_dir, for_training=True)
    _, resumed = fit(model2, tokenizer, rows, config.with_overrides(max_steps=4), tmp_path / "ckpt")
    assert resumed.resumed_from == "checkpoint-3" and resumed.steps == 4
