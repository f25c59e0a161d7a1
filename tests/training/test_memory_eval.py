"""The evaluation's memory figures (`training.evaluation.memory_eval`): memory_recall and hits@1 of the
new adapter with memory on and off, on the tiny model with held-out examples given memory by hand;
how the report stores them, old reports without them, and what `eval` prints."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from model.dialogue import Dialogue, Recollection, Turn, chat_header, split_sessions
from model.memory_block import MEMORY_HEADER
from storage import ChatRow, Database, MessageRow
from training.config import TrainConfig
from training.data.dataset import DialogueExample, session_examples
from training.evaluation.cache import example_key
from training.evaluation.evaluate import EvalInputs, EvalSetup, evaluate_adapter
from training.evaluation.memory_eval import FactTurns, find_fact_turns
from training.evaluation.memory_recall import FactHistory
from training.evaluation.report import EvaluationReport, MemoryFigures, OnOff, PerModel
from training.evaluation.style import Lexicon

DAY, HOUR = 86_400, 3_600
MONDAY = 1_718_000_000
THURSDAY = MONDAY + 3 * DAY
GAP = 3 * HOUR


def _said(message_id: int, date: int, text: str, outgoing: bool = False) -> MessageRow:
    return MessageRow(1, message_id, None if outgoing else 7, None if outgoing else "Mia", outgoing, date, text)


# Monday: the facts (a dog's name, a café, a sister's name). Thursday, days later: the questions.
HISTORY = [
    _said(1, MONDAY, "we adopted a dog! his name is Rex"), _said(2, MONDAY + 60, "wow congrats", True),
    _said(3, MONDAY + 120, "let's meet at the Lotus cafe on friday"), _said(4, MONDAY + 180, "deal", True),
    _said(5, MONDAY + 240, "my sister Bella says hi"), _said(6, MONDAY + 300, "hi to her", True),
    _said(10, THURSDAY, "how is your dog doing?"), _said(11, THURSDAY + 60, "rex is fine", True),  # fact: rex
    _said(12, THURSDAY + 120, "where do we meet again?"), _said(13, THURSDAY + 180, "at lotus", True),  # lotus
    _said(14, THURSDAY + 240, "how are you?"), _said(15, THURSDAY + 300, "fine thanks", True),  # no fact
    _said(16, THURSDAY + 360, "did Bella call?"), _said(17, THURSDAY + 420, "bella did", True),  # in the window
]
MONDAY_EXCHANGE = Recollection(
    (Turn("partner", ("we adopted a dog! his name is Rex",), "Mia", MONDAY),
     Turn("owner", ("wow congrats",), None, MONDAY + 60),
     Turn("partner", ("let's meet at the Lotus cafe on friday",), "Mia", MONDAY + 120)),
    (1, 2, 3), MONDAY)


def _heldout() -> list[DialogueExample]:
    """Thursday's owner turns as the dataset builds them, held out; memory given by hand: the Monday
    exchange for every turn but the last (it recalled nothing)."""
    monday, thursday = split_sessions(HISTORY, GAP)
    header = chat_header(ChatRow(1, "private", "Mia"))
    examples = session_examples(1, header, thursday, 10)
    with_memory = [replace(e, dialogue=replace(e.dialogue, memory=(MONDAY_EXCHANGE,))) for e in examples[:-1]]
    return [replace(e, split="heldout") for e in [*with_memory, examples[-1]]]


def _copying_model(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Replace sampling with a model that copies its memory: when the prompt shows a memory block,
    every candidate is the block's lines without their labels; else "no idea". Returns, per call,
    whether the prompt had a block."""
    seen: list[bool] = []

    def generate(model: Any, tokenizer: Any, fmt: Any, dialogue: Dialogue, gen: Any, n: int,
                 should_stop: Any = None) -> list[list[str]]:
        shown = MEMORY_HEADER in fmt.render_prompt(dialogue)
        seen.append(shown)
        lines = fmt.memory_text(dialogue).splitlines()[1:]
        copied = [line.split(": ", 1)[1] for line in lines if ": " in line]
        return [copied if shown else ["no idea"] for _ in range(n)]

    monkeypatch.setattr("model.torch_engine.generate_replies", generate)
    return seen


def _evaluate(settings: Any, memory: bool, cache_dir: Path) -> EvaluationReport:
    """Evaluate a fresh (untrained) LoRA adapter on the tiny model, in a format with or without memory
    (the same adapter weights every call: its cache key fingerprints them)."""
    import torch
    from peft import LoraConfig, get_peft_model

    from model.generation import GenerationSettings
    from model.prompt import PromptFormat
    from model.sources import load_base

    base, tokenizer = load_base("tiny", settings.models_dir)
    torch.manual_seed(0)
    peft_model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear"))
    adapter_dir = settings.data_dir / "adapter"
    peft_model.save_pretrained(str(adapter_dir))
    fmt = PromptFormat.for_training(tokenizer, memory=memory)
    heldout = _heldout()
    pool = [("ok",), ("see you",), ("no way",), ("haha",), ("sure",), *(e.reply.messages for e in heldout)]
    inputs = EvalInputs(heldout, Lexicon.from_texts([], []), pool, 2, FactHistory.of({1: HISTORY}, GAP))
    config = TrainConfig(name="tiny", max_length=256, eval_max_examples=20, eval_generate=4, eval_samples=0,
                         eval_max_new_tokens=8)
    setup = EvalSetup("tiny", settings.models_dir, "torch", cache_dir)
    return evaluate_adapter(peft_model, tokenizer, fmt, inputs, config, GenerationSettings.from_settings(settings),
                            None, setup, adapter_dir)


def test_with_memory_a_model_that_copies_it_recalls_the_facts_and_without_it_does_not(
        tiny_settings, monkeypatch, tmp_path) -> None:
    seen = _copying_model(monkeypatch)

    report = _evaluate(tiny_settings, memory=True, cache_dir=tmp_path / "cache")

    memory = report.memory
    assert memory is not None and memory.memory and memory.fact_dependent == 2 and memory.fact_in_memory == 2
    assert memory.memory_recall == OnOff(on=1.0, off=0.0)  # "off" prompts carry no memory block
    assert memory.hits_at_1.on == report.hits_at_1.new and memory.hits_at_1.off is not None
    # the new adapter's replies: 3 prompts with memory, 1 that recalled nothing, the 2 fact turns off; the base's 4
    assert seen.count(True) == 3 and seen.count(False) == 1 + 2 + 4
    # what was measured: per model 4 perplexities, 4 hits, 4 replies; the new adapter also the 2 fact
    # turns without memory and hits@1 without memory on the 3 contexts that had some. Its 2 fact turns
    # with memory and the context that recalled nothing (its key is the same off) came from the cache.
    assert report.timing is not None
    assert (report.timing.measured_lookups, report.timing.cached_lookups) == (12 + 12 + 2 + 3, 2 + 1)

    again = _evaluate(tiny_settings, memory=True, cache_dir=tmp_path / "cache")  # on and off kept apart

    assert again.memory == memory and again.timing is not None and again.timing.measured_lookups == 0


def test_an_adapter_without_memory_reports_memory_false_and_off_figures_only(tiny_settings, monkeypatch,
                                                                               tmp_path) -> None:
    seen = _copying_model(monkeypatch)

    report = _evaluate(tiny_settings, memory=False, cache_dir=tmp_path / "cache")

    assert report.memory == MemoryFigures(False, 2, OnOff(None, 0.0), OnOff(None, report.hits_at_1.new), None)
    assert not any(seen)  # its prompts never show memory, though the examples carry some
    assert report.timing is not None and report.timing.measured_lookups == 12 + 12  # nothing more to measure
    data = report.summary()
    assert data["memory"] is False and data["memory_recall"]["on"] is None
    assert data["hits_at_1_memory"] == {"on": None, "off": report.hits_at_1.new}


def test_the_memory_block_is_part_of_the_cache_key() -> None:
    """Keyed by the block the model's prompt shows, not by what was recalled: a format without memory
    keys an example the same whatever it recalled."""
    dialogue = _heldout()[0].dialogue
    assert example_key(dialogue, ("rex is fine",)) == example_key(replace(dialogue, memory=()), ("rex is fine",))
    assert example_key(dialogue, ("rex is fine",), "Earlier in this chat:\n...") != example_key(dialogue,
                                                                                                 ("rex is fine",))


def test_fact_dependent_turns_are_placed_in_their_session_and_the_most_recent_are_kept() -> None:
    # A session whose first turn is two messages: "Rex" in its first message is in the session already.
    same_session = [
        _said(1, MONDAY, "Rex is with me"), _said(2, MONDAY + 600, "we walk a lot"),
        *(_said(3 + i, MONDAY + 660 + 60 * i, f"talk {i}", i % 2 == 1) for i in range(12)),
        _said(20, MONDAY + 1500, "who?"), _said(21, MONDAY + 1560, "rex", True),
    ]
    history = FactHistory.of({1: same_session}, GAP)
    assert history.session_starts == {1: [MONDAY]}
    session = split_sessions(same_session, GAP)[0]
    last = session_examples(1, Dialogue(()), session, 4)[-1]
    assert find_fact_turns([last], history, 4) == FactTurns([], [], [])  # earlier in its session: not memory's

    heldout = _heldout()
    facts = FactHistory.of({1: HISTORY}, GAP)
    found = find_fact_turns(heldout, facts, 1)
    assert found is not None and found.words == ["lotus"] and found.examples == [heldout[1]]
    assert find_fact_turns(heldout, facts, 0) == find_fact_turns([], facts, 4)
    assert find_fact_turns(heldout, None, 4) is None


FIGURES = MemoryFigures(True, 7, OnOff(0.5714, 0.1429), OnOff(0.3, 0.25), 5)


def test_the_report_keeps_the_memory_figures_and_an_old_report_reads_them_as_none() -> None:
    report = EvaluationReport(4, 20, PerModel(9.0, None, 3.0), PerModel(0.1, None, 0.3), memory=FIGURES)
    data = json.loads(json.dumps(report.to_json()))
    assert data["memory"] is True and data["hits_at_1_memory"] == {"on": 0.3, "off": 0.25}
    assert data["memory_recall"] == {"on": 0.5714, "off": 0.1429, "fact_dependent": 7, "fact_in_memory": 5}
    assert EvaluationReport.from_json(data) == report

    old = {k: v for k, v in data.items() if k not in ("memory", "memory_recall", "hits_at_1_memory")}
    assert EvaluationReport.from_json(old) == replace(report, memory=None)
    summary = EvaluationReport.from_json(old).summary()
    assert (summary["memory"], summary["memory_recall"], summary["hits_at_1_memory"]) == (None, None, None)


def test_eval_prints_the_memory_figures_and_nothing_for_a_report_without_them(settings) -> None:
    from storage import training as training_queries
    from training.runs.report import RunReport

    async def stored() -> None:
        async with Database.open(settings.db_path) as db:
            for adapter_id, memory in (("a1", FIGURES), ("a2", None)):
                run = await training_queries.create_run(db, "test", "tiny", 0)
                evaluation = EvaluationReport(4, 20, PerModel(9.0, None, 3.0), generated=4, memory=memory)
                report = RunReport(run.id, "tiny", TrainConfig(name="tiny"), None, None, evaluation)
                await training_queries.update_run(db, run.id, report=report.to_json())
                await training_queries.add_adapter(db, adapter_id, f"/adapters/{adapter_id}", "tiny", run.id,
                                                   report.adapter_metrics().to_json())

    asyncio.run(stored())
    from cli.app import app

    def invoke(*args: str) -> str:
        result = CliRunner().invoke(app, ["--data-dir", str(settings.data_dir), "eval", *args])
        assert result.exit_code == 0, result.output
        return result.stdout

    data = json.loads(invoke("a1", "--json").strip().splitlines()[-1])
    assert data["memory"] is True and data["memory_recall"]["fact_dependent"] == 7
    assert data["memory_recall"]["on"] == 0.5714 and data["hits_at_1_memory"] == {"on": 0.3, "off": 0.25}
    printed = " ".join(invoke("a1").split())
    assert ("memory: memory_recall on 0.571 / off 0.143 (7 fact-dependent turns, the fact in memory for 5); "
            "hits@1 on 0.300 / off 0.250") in printed

    old = json.loads(invoke("a2", "--json").strip().splitlines()[-1])
    assert (old["memory"], old["memory_recall"], old["hits_at_1_memory"]) == (None, None, None)
    assert "memory_recall" not in invoke("a2")
