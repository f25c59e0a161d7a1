"""The DPO preference stage end to end on the `tiny` model: pairs → stage → saved adapter."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from model.dialogue import Dialogue, Turn
from training.config import load_preset
from training.data.preference_pairs import PreferencePair
from training.fitting.preference import (
    MAX_PREFERENCE_EPOCHS,
    encode_pair,
    preference_accuracy,
    run_preference_stage,
    split_pairs,
    stage_steps,
)

QUESTIONS = ["hi! how are you?", "where are you?", "did you see the photo?", "what time?", "call me when you can",
             "привет! как дела?", "ты где?", "сколько стоит?", "давай завтра", "позвони мне вечером"]
# The owner's style is unambiguous: lowercase with ")"; the suggestions are formal.
CHOSEN = ["ок)", "да, скоро буду)", "ахаха, да)", "ок, давай)", "нормально)", "ok, sure)", "lol yes)", "on my way)"]
REJECTED = ["Хорошо. Договорились.", "Да. Скоро буду.", "Спасибо. Хорошо.", "Нормально. А у Вас?", "Ok. Sure.",
            "Thanks. Good night.", "No problem. See you tomorrow.", "Yes. On my way."]

# Replies of the same two styles that training never sees: the most recent pairs, so they are held out.
UNSEEN_CHOSEN = ["ага)", "ну да)", "ок, понял)", "давай)", "sure, lol)", "yes)", "хорошо)", "see you)"]
UNSEEN_REJECTED = ["Понял. Спасибо.", "Да. Конечно.", "Хорошо. До встречи.", "Давайте.", "Sure. Thank you.",
                   "Yes. Certainly.", "Good. Thanks.", "See you. Bye."]


def synthetic_pairs(n: int = 40) -> list[PreferencePair]:
    """`n` pairs; the last 8 (held out when n = 40) use replies absent from the others."""
    pairs = []
    for i in range(n):
        dialogue = Dialogue((Turn("partner", (QUESTIONS[i % len(QUESTIONS)],)),), "Anna", "friend")
        unseen = i - (n - len(UNSEEN_CHOSEN))
        chosen = UNSEEN_CHOSEN[unseen] if unseen >= 0 else CHOSEN[i % len(CHOSEN)]
        rejected = UNSEEN_REJECTED[unseen] if unseen >= 0 else REJECTED[(3 * i) % len(REJECTED)]
        pairs.append(PreferencePair(i, 1, dialogue, chosen, rejected, "edited", 1_000 + i))
    return pairs


@pytest.fixture
def one_thread() -> Iterator[None]:
    """A 40k-parameter model trains several times faster on one intra-op thread than on an
    oversubscribed shared machine's default pool."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def tiny(tiny_model_dir):
    from peft import get_peft_model

    from model.prompt import PromptFormat
    from model.sources import load_base
    from training.fitting.fit import lora_config

    model, tokenizer = load_base("tiny", tiny_model_dir.parent, quantization="none", for_training=True)
    config = load_preset("tiny").with_overrides(
        preference_min_pairs=10, preference_steps=20, preference_learning_rate=0.01, preference_beta=0.1)
    # The SFT run's adapter (here untrained): the stage continues training exactly this one.
    return get_peft_model(model, lora_config(config)), tokenizer, PromptFormat.for_tokenizer(tokenizer), config


def test_encode_pair_uses_the_training_rows_token_boundaries(tiny) -> None:
    _, tokenizer, fmt, _ = tiny
    pair = synthetic_pairs(1)[0]
    row = encode_pair(tokenizer, fmt, pair)
    sft = fmt.encode_example(tokenizer, pair.dialogue, pair.chosen)
    assert row["prompt_ids"] + row["chosen_ids"] == sft["input_ids"]
    assert row["rejected_ids"][-1] == tokenizer.eos_token_id

    long = replace(pair, dialogue=replace(pair.dialogue, turns=(Turn("partner", ("old " * 40,)), Turn("owner", ("ok",)),
                                                               *pair.dialogue.turns)))
    full = encode_pair(tokenizer, fmt, long)
    cut = encode_pair(tokenizer, fmt, long, max_length=len(full["prompt_ids"]) - 1 + len(full["rejected_ids"]))
    assert cut["prompt_ids"] == fmt.encode_prompt(tokenizer, replace(long.dialogue, turns=long.dialogue.turns[1:]))
    assert encode_pair(tokenizer, fmt, long, max_length=len(row["rejected_ids"])) is None


def test_dpo_stage_moves_preference_accuracy_towards_the_owner(tiny, one_thread, tiny_model_dir, tmp_path) -> None:
    import torch
    from peft import PeftModel

    from model.sources import load_base

    peft_model, tokenizer, fmt, config = tiny
    base_before = {n: p.detach().clone() for n, p in peft_model.named_parameters() if "lora_" not in n}
    lora_before = {n: p.detach().clone() for n, p in peft_model.named_parameters() if "lora_" in n}
    pairs = synthetic_pairs()
    _, heldout = split_pairs(pairs)
    assert {p.chosen for p in heldout} == set(UNSEEN_CHOSEN)

    progress: list[tuple[int, int, float | None]] = []
    result = run_preference_stage(peft_model, tokenizer, fmt, pairs, config,
                                  lambda step, total, loss: progress.append((step, total, loss)))

    assert result.ran and (result.pairs_train, result.pairs_heldout, result.steps) == (32, 8, 20)
    assert progress and {total for _, total, _ in progress} == {20}  # every logged loss reached `on_step`
    assert progress[-1] == (20, 20, result.final_loss)
    assert result.accuracy_after > result.accuracy_before and result.accuracy_after >= 0.875
    assert result.final_loss is not None and result.seconds > 0
    assert list(peft_model.peft_config) == ["default"]  # trl's frozen reference copy is gone
    params = dict(peft_model.named_parameters())
    assert all(torch.equal(params[n], p) for n, p in base_before.items())
    assert any(not torch.equal(params[n], p) for n, p in lora_before.items())

    # the saved adapter is the trained one alone, and scores the same after loading
    peft_model.save_pretrained(str(tmp_path / "adapter"))
    assert not (tmp_path / "adapter" / "ref").exists()
    fresh, _ = load_base("tiny", tiny_model_dir.parent, quantization="none")
    reloaded = PeftModel.from_pretrained(fresh, str(tmp_path / "adapter"))
    assert preference_accuracy(reloaded, tokenizer, fmt, heldout, config.max_length) == result.accuracy_after


def test_stage_does_not_run_without_enough_pairs_or_steps(tiny) -> None:
    import torch

    peft_model, tokenizer, fmt, config = tiny
    lora_before = {n: p.detach().clone() for n, p in peft_model.named_parameters() if "lora_" in n}
    few = run_preference_stage(peft_model, tokenizer, fmt, synthetic_pairs(9), config)
    assert not few.ran and "fewer than 10" in few.reason and few.accuracy_before is None
    off = run_preference_stage(peft_model, tokenizer, fmt, synthetic_pairs(), config.with_overrides(preference_steps=0))
    assert not off.ran and "disabled" in off.reason
    params = dict(peft_model.named_parameters())
    assert all(torch.equal(params[n], p) for n, p in lora_before.items())


def test_stage_steps_stop_after_a_few_passes_over_few_pairs() -> None:
    qlora = load_preset("qwen2.5-7b-qlora")  # 16 pairs per optimizer step
    assert stage_steps(qlora, 16) == MAX_PREFERENCE_EPOCHS
    assert stage_steps(qlora, 10_000) == qlora.preference_steps
    tiny = load_preset("tiny").with_overrides(preference_steps=20)
    assert stage_steps(tiny, 32) == 20
