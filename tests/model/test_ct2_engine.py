"""The CTranslate2 engine against torch on the tiny model: same scores, same greedy replies, the
adapter really merged; ranking by the model's own likelihood; exports built once and atomically;
the engine choice.

Numbers are compared with torch through an engine that computes in float32 on the int8 export
(`exact`): its only difference from torch fp32 is the int8 rounding of the weights, which the
converter does the same way on every machine, so the tolerance holds on any CPU. The int8 compute
type also quantises activations, with kernels that differ from CPU to CPU (VNNI or not, oneDNN or
MKL): its distance from torch is measured by bench/generate_bench.py, not asserted here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from model.candidates import Candidate, rank
from model.ct2_engine import Ct2Engine
from model.ct2_export import MARKER_FILE, ExportError, ensure_export, export_path, serving_engine
from model.dialogue import Dialogue, Turn
from model.generation import GenerationSettings
from model.prompt import PromptFormat
from model.torch_engine import TorchReplies
from tests.model.test_service import make_adapter

DIALOGUES = [
    Dialogue((Turn("owner", ("yo",)), Turn("partner", ("Are you coming?", "tonight"), "Anna")), "Anna", "friend"),
    Dialogue((Turn("partner", ("привет, как дела?",), "Oleg"),), "Oleg"),
]
REPLIES = [["yes"], ["sure", "when?"], ["a much longer reply with more words"]]
TOLERANCE = 0.02  # nats per token: int8-rounded weights against fp32 (measured here: at most 0.0004 on tiny)


@pytest.fixture(scope="module")
def engine(session_models_dir: Path) -> Ct2Engine:
    engine = Ct2Engine("tiny", session_models_dir)
    engine.load()
    return engine


@pytest.fixture(scope="module")
def exact(session_models_dir: Path) -> Ct2Engine:
    """The served int8 export, computed in float32 (see the module docstring)."""
    engine = Ct2Engine("tiny", session_models_dir, compute_type="float32")
    engine.load()
    return engine


def _torch(session_models_dir: Path, adapter: Path | None = None) -> TorchReplies:
    from peft import PeftModel

    from model.sources import load_base

    model, tokenizer = load_base("tiny", session_models_dir, dtype=__import__("torch").float32)
    if adapter is not None:
        model = PeftModel.from_pretrained(model, str(adapter), is_trainable=False).eval()
    return TorchReplies(model, tokenizer)


def test_scores_match_torch_for_the_base_and_a_merged_adapter(exact: Ct2Engine, session_models_dir: Path,
                                                              tmp_path: Path) -> None:
    fmt = PromptFormat.for_tokenizer(exact.tokenizer)
    base = _torch(session_models_dir)
    for dialogue in DIALOGUES:
        assert exact.score(fmt, dialogue, REPLIES) == pytest.approx(base.score(fmt, dialogue, REPLIES), abs=TOLERANCE)

    adapter = make_adapter(session_models_dir, tmp_path / "adapter", seed=3)
    tuned = _torch(session_models_dir, adapter)
    exact.activate(str(adapter))
    try:
        for dialogue in DIALOGUES:
            merged = exact.score(fmt, dialogue, REPLIES)
            assert merged == pytest.approx(tuned.score(fmt, dialogue, REPLIES), abs=TOLERANCE)
            assert merged != pytest.approx(base.score(fmt, dialogue, REPLIES), abs=TOLERANCE)  # the LoRA is in
    finally:
        exact.activate(None)


def test_candidates_are_ranked_by_the_models_likelihood_whatever_they_were_sampled_with(
        exact: Ct2Engine, engine: Ct2Engine, session_models_dir: Path) -> None:
    """Sampled hot, from a cut vocabulary, with a phrase suppressed: each candidate's ranking score
    is still its likelihood under the model itself, the one torch fp32 gives it, and the int8
    engine ranks with the same kind of score (the scores of a fresh pass, nothing kept from sampling)."""
    fmt = PromptFormat.for_tokenizer(exact.tokenizer)
    reference = _torch(session_models_dir)
    first_word = exact.tokenizer.decode([_greedy_ids(exact, fmt, DIALOGUES[0], GenerationSettings(temperature=0))[0]])
    hot = GenerationSettings(temperature=1.5, top_k=5, top_p=0.8, max_new_tokens=12,
                             banned_phrases=(first_word.strip() or "ok",))
    for dialogue in DIALOGUES:
        for ranking in (exact, engine):
            candidates = [Candidate(tuple(r)) for r in ranking.sample(fmt, dialogue, hot, 6)]
            ranked = rank(ranking, fmt, dialogue, candidates)
            assert len(ranked) == 6
            replies = [c.messages for c in candidates]  # the order rank scored them in
            likelihood = dict(zip(replies, ranking.score(fmt, dialogue, replies), strict=True))
            assert [c.score for c in ranked] == [likelihood[c.messages] for c in ranked]
            if ranking is exact:
                expected = dict(zip(replies, reference.score(fmt, dialogue, replies), strict=True))
                assert [c.score for c in ranked] == pytest.approx([expected[c.messages] for c in ranked], abs=TOLERANCE)


def test_greedy_replies_match_torch(exact: Ct2Engine, session_models_dir: Path) -> None:
    fmt = PromptFormat.for_tokenizer(exact.tokenizer)
    greedy = GenerationSettings(temperature=0, max_new_tokens=12)
    base = _torch(session_models_dir)
    for dialogue in DIALOGUES:
        replies = exact.sample(fmt, dialogue, greedy, 3)
        assert replies == base.sample(fmt, dialogue, greedy, 3)
        assert len(replies) == 3 and replies[0] == replies[1]  # greedy: n copies of one reply


def test_sampling_gives_n_replies_and_stops_when_told(engine: Ct2Engine) -> None:
    fmt = PromptFormat.for_tokenizer(engine.tokenizer)
    gen = GenerationSettings(temperature=1.0, top_p=1.0, max_new_tokens=24)
    replies = engine.sample(fmt, DIALOGUES[0], gen, 4)
    assert len(replies) == 4 and all(isinstance(m, str) for r in replies for m in r)

    asked: list[int] = []

    def stop() -> bool:
        asked.append(1)
        return True

    engine.sample(fmt, DIALOGUES[0], gen, 4, should_stop=stop)
    assert len(asked) <= 4  # each row stopped at its first token, not after 24


def test_banned_phrases_are_never_generated(engine: Ct2Engine) -> None:
    fmt = PromptFormat.for_tokenizer(engine.tokenizer)
    tokenizer = engine.tokenizer
    greedy = GenerationSettings(temperature=0, max_new_tokens=8)
    dialogue = DIALOGUES[0]
    first_id = _greedy_ids(engine, fmt, dialogue, greedy)[0]
    word = tokenizer.decode([first_id]).strip()
    assert word, "the tiny model's first greedy token is blank: pick another dialogue"
    banned = GenerationSettings(temperature=0, max_new_tokens=8, banned_phrases=(word,))
    assert word not in " ".join(engine.sample(fmt, dialogue, banned, 1)[0])


def _greedy_ids(engine: Ct2Engine, fmt: PromptFormat, dialogue: Dialogue, gen: GenerationSettings) -> list[int]:
    generator: Any = engine._generator
    prompt = engine.tokenizer.convert_ids_to_tokens(fmt.encode_prompt(engine.tokenizer, dialogue))
    results = generator.generate_batch([prompt], max_length=gen.max_new_tokens, include_prompt_in_result=False)
    return results[0].sequences_ids[0]


def test_an_export_is_built_once_and_atomically(session_models_dir: Path, tmp_path: Path) -> None:
    adapter = make_adapter(session_models_dir, tmp_path / "adapter", seed=4)
    target = ensure_export("tiny", session_models_dir, adapter)
    assert target == export_path("tiny", session_models_dir, adapter) == adapter / "ct2-int8"
    assert (target / "model.bin").is_file() and json.loads((target / MARKER_FILE).read_text())["base_model"] == "tiny"
    built = (target / "model.bin").stat().st_mtime_ns
    assert ensure_export("tiny", session_models_dir, adapter) == target
    assert (target / "model.bin").stat().st_mtime_ns == built  # reused, not rebuilt
    assert sorted(p.name for p in adapter.iterdir() if p.name.startswith(".")) == [".ct2-int8.lock"]  # no staging left


def test_a_broken_adapter_fails_cleanly(session_models_dir: Path, tmp_path: Path) -> None:
    adapter = make_adapter(session_models_dir, tmp_path / "adapter", seed=5)
    (adapter / "adapter_model.safetensors").write_bytes(b"not a tensor file")
    with pytest.raises(ExportError, match="cannot merge adapter"):
        ensure_export("tiny", session_models_dir, adapter)
    assert not (adapter / "ct2-int8").exists()
    assert [p.name for p in adapter.iterdir() if p.name.startswith(".")] == [".ct2-int8.lock"]  # no staging left


def test_the_engine_choice() -> None:
    assert serving_engine("torch") == "torch" and serving_engine("ct2") == "ct2"
    assert serving_engine("auto") == "ct2"  # this CPU-only machine, ctranslate2 installed
    with pytest.raises(ValueError, match="unknown serving engine"):
        serving_engine("llama")

