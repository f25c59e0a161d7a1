"""`main.py dataset` prints counts and writes JSON lines with a split field."""

from __future__ import annotations

import asyncio
import json

from typer.testing import CliRunner

from storage import ChatRow, Database, MessageRow
from storage import chats as chat_queries
from storage import messages as message_queries


async def seed(settings) -> None:
    async with Database.open(settings.db_path) as db:
        await chat_queries.upsert_chats(db, [ChatRow(1, "private", "Anna")])
        rows = []
        for i in range(20):  # one exchange per session (held out by session: here the 16th and the 20th)
            t = 1000 + 4 * 3600 * i
            rows.append(MessageRow(1, 2 * i, 7, "Anna", False, t, f"q{i} mail me a@b.io"))
            rows.append(MessageRow(1, 2 * i + 1, None, None, True, t + 5, f"a{i}"))
        await message_queries.insert_messages(db, rows, "export")


def test_dataset_command_writes_jsonl(settings, tmp_path):
    asyncio.run(seed(settings))

    from cli.app import app

    out = tmp_path / "examples.jsonl"
    result = CliRunner().invoke(app, ["--data-dir", str(settings.data_dir), "dataset", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "examples 20 (train 18, held-out 2" in result.output and "email 20" in result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 20 and {line["split"] for line in lines} == {"train", "heldout"}
    assert all("a@b.io" not in json.dumps(line) for line in lines)


def test_dataset_reports_and_leaves_out_the_bots_own_messages(settings, tmp_path, monkeypatch):
    monkeypatch.setenv("TGTWIN_BASE_MODEL", "tiny")  # its tokenizer builds in a moment

    async def seed_with_bot_reply() -> None:
        await seed(settings)
        async with Database.open(settings.db_path) as db:
            await message_queries.mark_authored(db, 1, [11], "bot")  # "a5" was the bot's auto-reply

    asyncio.run(seed_with_bot_reply())
    from cli.app import app

    out = tmp_path / "examples.jsonl"
    args = ["--data-dir", str(settings.data_dir), "dataset", "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert (data["excluded_bot_messages"], data["excluded_context_messages"]) == (1, 1)  # a5 and the q5 it answered
    assert data["examples"] == 19
    replies = [line["reply"] for line in map(json.loads, out.read_text().splitlines())]
    assert ["a5"] not in replies and ["a4"] in replies and ["a6"] in replies
    text = CliRunner().invoke(app, args)
    assert text.exit_code == 0, text.output
    assert "the bot's own messages left out: 1 (and 1 messages around them)" in " ".join(text.output.split())


def test_eval_json_prints_one_object_with_the_world_size(settings):
    from storage import training as training_queries
    from training.config import TrainConfig
    from training.evaluation.report import EvaluationReport, PerModel
    from training.runs.report import RunReport

    async def stored() -> None:
        async with Database.open(settings.db_path) as db:
            run = await training_queries.create_run(db, "test", "tiny", 0)
            report = RunReport(run.id, "tiny", TrainConfig(name="tiny"), None, None,
                               EvaluationReport(4, 20, PerModel(9.0, None, 3.0), generated=4), world_size=2)
            await training_queries.update_run(db, run.id, report=report.to_json())
            await training_queries.add_adapter(db, "a1", "/adapters/a1", "tiny", run.id,
                                               report.adapter_metrics().to_json())
            await training_queries.add_adapter(db, "a0", "/adapters/a0", "tiny", None, {"perplexity": {"new": 5.0}})

    asyncio.run(stored())
    from main import app

    result = CliRunner().invoke(app, ["--data-dir", str(settings.data_dir), "eval", "a1", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert data["perplexity"] == {"base": 9.0, "served": None, "new": 3.0} and data["generated"] == 4
    assert {"blind_judge_accuracy", "style_distance", "hits_at_1"} <= set(data)
    assert data["preference"] is None  # a run from before the preference stage existed
    assert data["world_size"] == 2  # the processes that trained it (torchrun/accelerate)

    # an adapter without a run report: its row's figures, and no process count to report
    result = CliRunner().invoke(app, ["--data-dir", str(settings.data_dir), "eval", "a0", "--json"])
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert data["perplexity"]["new"] == 5.0 and data["world_size"] is None
