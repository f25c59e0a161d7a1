"""The one promote path (issue 18 item 4): the model swaps, then storage records; a process without
a model (the CLI) records only what a server could load, and a running server's PromotionWatcher
swaps to it, or puts the record back when its model cannot load it."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from typer.testing import CliRunner

from model.service import AdapterError
from model.status import ModelStatus
from storage import Database
from storage import training as training_queries
from training.runs.promotion import PromotionWatcher, promote_adapter, rollback_adapter


class LiveModel:
    """A served model: swaps to anything but `refused` and says what it serves."""

    def __init__(self, refused: set[str | None] = frozenset()) -> None:
        self.refused = refused
        self.adapter: str | None = None

    async def swap_adapter(self, adapter_dir: str | None) -> None:
        if adapter_dir in self.refused:
            raise AdapterError(f"cannot load adapter {adapter_dir}")
        self.adapter = adapter_dir

    def status(self) -> ModelStatus:
        return ModelStatus(backend="test", state="ready", base_model="tiny", adapter_path=self.adapter)


def adapter_dir(settings, name: str, base_model: str = "tiny") -> str:
    path = settings.adapters_dir / name
    path.mkdir(parents=True)
    (path / "adapter_config.json").write_text("{}")
    (path / "meta.json").write_text(json.dumps({"base_model": base_model}))
    return str(path)


async def _promoted(db) -> str | None:
    adapter = await training_queries.promoted_adapter(db)
    return None if adapter is None else adapter.id


async def test_a_failed_swap_leaves_the_record_unchanged(db, settings):
    for name in ("a1", "a2"):
        await training_queries.add_adapter(db, name, adapter_dir(settings, name), "tiny", None)
    model = LiveModel()
    await promote_adapter(db, model, "a1", "test")
    await promote_adapter(db, model, "a2", "test")
    broken = LiveModel(refused={str(settings.adapters_dir / "a1"), str(settings.adapters_dir / "a2")})
    with pytest.raises(AdapterError):
        await promote_adapter(db, broken, "a1", "test")
    with pytest.raises(AdapterError):
        await rollback_adapter(db, broken)
    assert await _promoted(db) == "a2" and model.adapter == str(settings.adapters_dir / "a2")
    assert (await rollback_adapter(db, model)).id == "a1"
    assert await _promoted(db) == "a1" and model.adapter == str(settings.adapters_dir / "a1")


def test_the_cli_refuses_to_promote_what_no_server_could_load(settings, monkeypatch):
    from cli.app import app

    monkeypatch.setenv("TGTWIN_BASE_MODEL", "tiny")

    async def seed() -> None:
        async with Database.open(settings.db_path) as db:
            await training_queries.add_adapter(db, "gone", str(settings.adapters_dir / "gone"), "tiny", None)
            await training_queries.add_adapter(db, "other", adapter_dir(settings, "other", "bundled:smollm2-135m"),
                                               "bundled:smollm2-135m", None)

    asyncio.run(seed())
    for adapter, reason in (("gone", "does not exist"), ("other", "trained on bundled:smollm2-135m")):
        result = CliRunner().invoke(app, ["--data-dir", str(settings.data_dir), "promote", adapter])
        lines = result.stderr.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1 and reason in lines[0], result.output

    async def promoted() -> str | None:
        async with Database.open(settings.db_path) as db:
            return await _promoted(db)

    assert asyncio.run(promoted()) is None


def test_the_cli_promotes_and_rolls_back_through_the_shared_path(settings, monkeypatch):
    """`promote`/`rollback` call the panel's actions (`application.training_actions`) with a model
    served elsewhere: what they record, and how they refuse, is the panel's."""
    from cli.app import app

    monkeypatch.setenv("TGTWIN_BASE_MODEL", "tiny")

    def cli(*args: str):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(app, ["--data-dir", str(settings.data_dir), *args])

    nothing = cli("rollback")
    assert nothing.exit_code == 2 and nothing.stderr.strip() == "error: nothing has been promoted; nothing to roll back"

    async def seed() -> None:
        async with Database.open(settings.db_path) as db:
            for name in ("a1", "a2"):
                await training_queries.add_adapter(db, name, adapter_dir(settings, name), "tiny", None)

    async def promoted() -> str | None:
        async with Database.open(settings.db_path) as db:
            return await _promoted(db)

    asyncio.run(seed())
    assert cli("promote", "a1").exit_code == 0 and cli("promote", "a2").exit_code == 0
    assert asyncio.run(promoted()) == "a2"
    back = cli("rollback")
    assert back.exit_code == 0 and back.stdout.startswith("now serving a1"), back.output
    assert asyncio.run(promoted()) == "a1"
    unknown = cli("promote", "a9")
    assert unknown.exit_code == 2 and unknown.stderr.strip() == "error: adapter a9 not found"


async def test_a_promotion_the_server_cannot_load_is_put_back(db, settings):
    for name in ("good", "bad"):
        await training_queries.add_adapter(db, name, adapter_dir(settings, name), "tiny", None)
    model = LiveModel(refused={str(settings.adapters_dir / "bad")})
    await promote_adapter(db, model, "good", "test")
    async with PromotionWatcher(db, model, interval_s=0.05):
        async with Database.open(settings.db_path) as other:  # another process's connection
            await training_queries.promote(other, "bad", "promoted elsewhere")
        deadline = time.monotonic() + 30
        while await _promoted(db) != "good":
            assert time.monotonic() < deadline, "the watcher did not put the record back"
            await asyncio.sleep(0.05)
    assert model.adapter == str(settings.adapters_dir / "good")
    rows = await db.fetchall("SELECT reason FROM promotions ORDER BY id DESC LIMIT 1")
    assert rows[0]["reason"].startswith("promotion of bad undone: the model could not load it (AdapterError")
