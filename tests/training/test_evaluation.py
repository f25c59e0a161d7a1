"""The evaluation through the training entry point on the tiny model: the replies come from the live
path on the serving engine, the base model is measured once, the served adapter's figures come from
its own run; and the evaluation cache's pure parts."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path

from typer.testing import CliRunner

from model.dialogue import Dialogue, Turn
from testdata.seed_chat import seed_chat
from training.evaluation.cache import CachedReplies, example_key, open_model_cache
from training.runs.promotion import ServedElsewhere, promote_adapter
from training.runs.run import run_training


async def test_a_second_run_measures_only_the_new_adapter(db, tiny_settings) -> None:
    # ct2: what `auto` serves on a CPU-only machine. Memory off: the lookups counted here are one per
    # figure; memory's extra ones (hits@1 without memory) are counted in test_memory_eval.
    settings = tiny_settings.model_copy(update={"serving_engine": "ct2", "memory_enabled": False})
    await seed_chat(db)
    first = await run_training(settings, preset="tiny", trigger="test")
    second = await run_training(settings, preset="tiny", trigger="test", overrides={"seed": 7})
    one, two = first.report.evaluation, second.report.evaluation
    assert first.promoted and two.promoted_adapter == first.adapter_id
    # the base model: measured in the first run, read back in the second
    assert (two.perplexity.base, two.hits_at_1.base) == (one.perplexity.base, one.hits_at_1.base)
    # the served adapter: its figures and replies are those its own run measured
    assert (two.perplexity.promoted, two.hits_at_1.promoted) == (one.perplexity.new, one.hits_at_1.new)
    assert two.reference is not None and one.new is not None and two.reference.style == one.new.style
    # what was measured: only the new adapter (a perplexity per example, a hit and a reply per context)
    per_model = one.heldout_examples + 2 * one.generated
    assert one.timing is not None and two.timing is not None
    assert one.timing.measured_lookups == 2 * per_model and one.timing.cached_lookups == 0
    assert two.timing.measured_lookups == per_model
    # the reference's lookups, and the base's without replies
    assert two.timing.cached_lookups == per_model + one.heldout_examples + one.generated

    from cli.app import app

    args = ["--data-dir", str(settings.data_dir), "eval", second.adapter_id, "--json"]
    result = await asyncio.to_thread(CliRunner().invoke, app, args)  # the CLI runs its own event loop
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert data["replies_path"] == "live selection (model.candidates.choose_replies) on ct2 int8 (the serving engine)"
    assert data["first_sample"]["label"] == "new adapter, first kept sample"
    cost = data["cost"]
    assert cost["eval_seconds"] == data["timing"]["total"] > 0 and cost["train_seconds"] > 0
    assert cost["eval_share_of_train"] == round(cost["eval_seconds"] / cost["train_seconds"], 4)
    text = await asyncio.to_thread(CliRunner().invoke, app, args[:-1])
    printed = " ".join(text.stdout.split())  # the console wraps long lines
    cached, total = two.timing.cached_lookups, two.timing.cached_lookups + two.timing.measured_lookups
    assert second.report.fit is not None and f"of training's {second.report.fit.seconds}s" in printed
    assert f"{cached} of {total} measurements cached" in printed
    assert "replies: live selection (model.candidates.choose_replies) on ct2 int8 (the serving engine)" in printed


async def test_where_torch_serves_the_evaluation_generates_on_torch(db, tiny_settings) -> None:
    settings = tiny_settings.model_copy(update={"serving_engine": "torch"})
    await seed_chat(db, exchanges=20)
    result = await run_training(settings, preset="tiny", trigger="test", overrides={"max_steps": 2})
    evaluation = result.report.evaluation
    assert evaluation.replies_path == "live selection (model.candidates.choose_replies) on torch"
    assert evaluation.timing is not None and evaluation.timing.export == 0.0
    assert not (result.adapter_dir / "ct2-int8").exists()  # nothing built for CTranslate2



async def test_a_served_adapter_without_its_format_file_is_scored_in_the_format_serving_uses(db, tiny_settings) -> None:
    """An adapter saved without `prompt_format.json` (older tgtwin) is served in the base model's format
    (`model.adapter_format.serving_format`); the evaluation scores it in that format too, not as broken."""
    settings = tiny_settings.model_copy(update={"serving_engine": "torch"})
    await seed_chat(db, exchanges=20)
    first = await run_training(settings, preset="tiny", trigger="test", overrides={"max_steps": 2})
    await promote_adapter(db, ServedElsewhere(settings.base_model), first.adapter_id, "the owner serves it")
    (first.adapter_dir / "prompt_format.json").unlink()
    second = await run_training(settings, preset="tiny", trigger="test", overrides={"max_steps": 2, "fresh": True})
    evaluation = second.report.evaluation
    assert evaluation.promoted_adapter == first.adapter_id and evaluation.promoted_error is None
    assert evaluation.perplexity.promoted is not None and evaluation.hits_at_1.promoted is not None

DIALOGUE = Dialogue((Turn("partner", ("are you coming?",), "Anna"),), "Anna", "friend")


def test_examples_are_keyed_by_their_content() -> None:
    key = example_key(DIALOGUE, ("yes",))
    assert key == example_key(Dialogue(DIALOGUE.turns, "Anna", "friend"), ["yes"])
    assert key != example_key(DIALOGUE, ("no",))
    assert key != example_key(Dialogue(DIALOGUE.turns, "Anna", "sister"), ("yes",))
    assert key != example_key(Dialogue((Turn("partner", ("are you coming??",), "Anna"),), "Anna", "friend"), ("yes",))


def test_the_cache_keeps_what_was_measured_and_survives_a_broken_file(tmp_path: Path) -> None:
    directory = tmp_path / "eval-cache"
    cache = open_model_cache(directory, "m1")
    assert cache.nll("e1", 256) is None and cache.misses == 1
    cache.put_nll("e1", 256, (12.5, 5))
    cache.put_hit("e1", "d1", True)
    cache.put_replies("e1", "g1", CachedReplies(("ok)", "see you"), ("ok",)))
    cache.save()
    modes = stat.S_IMODE(directory.stat().st_mode), stat.S_IMODE((directory / "m1.json").stat().st_mode)
    assert modes == (0o700, 0o600)
    again = open_model_cache(directory, "m1")
    assert again.nll("e1", 256) == (12.5, 5) and again.nll("e1", 512) is None
    assert again.hit("e1", "d1") is True and again.hit("e1", "d2") is None
    assert again.replies("e1", "g1") == CachedReplies(("ok)", "see you"), ("ok",))
    assert (again.hits, again.misses) == (3, 2)
    (directory / "m1.json").write_text("{broken")
    assert open_model_cache(directory, "m1").nll("e1", 256) is None  # only costs time
    assert open_model_cache(None, "m1").path is None  # no directory: remembers nothing
