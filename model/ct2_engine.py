"""The CTranslate2 reply engine: CPU serving from an int8 export (`model/ct2_export.py`).

What a reply is stays the same as on torch: the prompt format's tokens, sampling with the same
temperature and top-p, the same end tokens and stop strings (checked after every token, per
candidate), banned phrases suppressed, the same cut and split into messages, and candidates scored
by their mean log-probability per token (one `score_batch` pass). Only the arithmetic differs: int8
weights. Measured on the default model (bench/generate_bench.py, 2 cores): decode 2.5x torch fp32's;
on 32 held-out contexts of the bundled sample a reply's score moves by 0.17 on average and the same
reply ranks first in 30.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from model.candidates import Reply, reply_token_ids
from model.context_window import context_window
from model.ct2_export import ensure_export
from model.dialogue import Dialogue
from model.generation import (
    GenerationSettings,
    banned_sequences,
    end_token_ids,
    finish_reply,
    reply_stop_strings,
    turn_has_ended,
)
from model.prompt import PromptFormat

log = logging.getLogger(__name__)

COMPUTE_TYPE = "int8"


class Ct2Engine:
    """Serving on CTranslate2. An adapter is served from its merged int8 export; `prepare` builds a
    missing export (slow: call it off the worker thread), `activate` only loads one (fast).
    Every other method runs on the model service's worker thread."""

    name = "ct2"

    def __init__(self, base_model: str, models_dir: Path, compute_type: str = COMPUTE_TYPE) -> None:
        """`compute_type`: int8 serves; float32 runs the same int8-rounded weights without
        quantising activations, whose int8 kernels differ from CPU to CPU (tests compare it with torch)."""
        self.base_model, self.models_dir = base_model, models_dir
        self.tokenizer: Any = None
        self.context_window = 0
        self.device, self.dtype = "cpu", compute_type
        self._generator: Any = None
        self._path: Path | None = None
        self.threads = 1

    def load(self) -> None:
        from transformers import AutoConfig

        from model.sources import load_tokenizer, resolve_base_dir

        base_dir = resolve_base_dir(self.base_model, self.models_dir)
        self.tokenizer = load_tokenizer(base_dir)
        self.context_window = context_window(AutoConfig.from_pretrained(str(base_dir)), self.tokenizer)
        self._open(ensure_export(self.base_model, self.models_dir))

    def prepare(self, adapter_dir: str) -> None:
        ensure_export(self.base_model, self.models_dir, adapter_dir)

    def activate(self, adapter_dir: str | None) -> None:
        """Serve `adapter_dir`'s export (None = the bare base); on failure the old one stays."""
        self._open(ensure_export(self.base_model, self.models_dir, adapter_dir))

    def use_threads(self, threads: int) -> None:
        """At most half the cores (`inference_threads()`), even while nothing trains: measured once on
        2 idle cores, four 30-token candidates took 1.35 s on one thread against 1.72 s on two (the
        default model's matrices are too small for OpenMP to pay). CTranslate2 fixes its threads when
        a model is opened, so a change reopens it (~0.2 s for 135M, from the page cache)."""
        from model.sources import inference_threads

        threads = max(1, min(threads, inference_threads()))
        if threads == self.threads:
            return
        previous, self.threads = self.threads, threads
        if self._path is not None:
            try:
                self._open(self._path)
            except RuntimeError as exc:  # its files were removed meanwhile: keep serving as before
                self.threads = previous
                log.warning("ct2: cannot reopen %s with %s threads: %s", self._path, threads, exc)

    def close(self) -> None:
        self._generator = None

    def _open(self, path: Path) -> None:
        import ctranslate2

        self._generator = ctranslate2.Generator(str(path), device="cpu", compute_type=self.dtype,
                                                intra_threads=self.threads)
        self._path = path

    def sample(self, fmt: PromptFormat, dialogue: Dialogue, gen: GenerationSettings, n: int,
               should_stop: Callable[[], bool] | None = None) -> list[list[str]]:
        """`n` replies, one batch row per candidate so each stops at its own end of turn. Banned
        phrases are suppressed outright (CTranslate2 has no soft bias).

        Nothing of the sampling pass is kept for ranking: the log-probability CTranslate2 reports
        per sampled token is taken after its logits processors (a suppressed phrase's tokens are
        masked and the rest renormalised), so it is not the model's likelihood; `score` is."""
        tokenizer = self.tokenizer
        prompt_ids = fmt.encode_prompt(tokenizer, dialogue)
        prompt = tokenizer.convert_ids_to_tokens(prompt_ids)
        stops = reply_stop_strings(fmt, tokenizer, dialogue)
        greedy = gen.temperature == 0
        rows = 1 if greedy else n
        generated: list[list[int]] = [[] for _ in range(rows)]

        def on_token(step: Any) -> bool:
            if should_stop is not None and should_stop():
                return True
            generated[step.batch_id].append(step.token_id)
            return turn_has_ended(tokenizer, fmt, dialogue, stops, generated[step.batch_id])

        banned = [tokenizer.convert_ids_to_tokens(list(ids)) for ids in banned_sequences(tokenizer, gen.banned_phrases)]
        results = self._generator.generate_batch(
            # The prompt is read once and its state copied to every row (not cached between calls).
            [prompt[-1:]] * rows, static_prompt=prompt[:-1] or None, cache_static_prompt=False,
            max_length=gen.max_new_tokens, include_prompt_in_result=False,
            sampling_topk=1 if greedy else gen.top_k, sampling_topp=1.0 if greedy else gen.top_p,
            sampling_temperature=1.0 if greedy else gen.temperature,
            end_token=end_token_ids(fmt, tokenizer), suppress_sequences=banned or None, callback=on_token,
        )
        replies = [finish_reply(tokenizer, fmt, dialogue, stops, result.sequences_ids[0]) for result in results]
        return replies * n if greedy else replies

    def score(self, fmt: PromptFormat, dialogue: Dialogue, replies: Sequence[Reply]) -> list[float | None]:
        """Mean log-probability per reply token after the prompt, every reply in one batch: the
        model's own likelihood (no sampling setting is involved)."""
        tokenizer = self.tokenizer
        prompt_ids = fmt.encode_prompt(tokenizer, dialogue)
        continuations = reply_token_ids(tokenizer, fmt, replies)
        scores: list[float | None] = [None] * len(replies)
        todo = [i for i, c in enumerate(continuations) if c]
        if not todo or not prompt_ids:
            return scores
        batch = [tokenizer.convert_ids_to_tokens(prompt_ids + continuations[i]) for i in todo]
        for i, result in zip(todo, self._generator.score_batch(batch, max_input_length=0), strict=True):
            tail = result.log_probs[-len(continuations[i]):]  # log_probs[j] scores token j + 1
            scores[i] = sum(tail) / len(continuations[i])
        return scores

