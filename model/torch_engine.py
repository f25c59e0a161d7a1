"""The torch reply engine: sampling and scoring with a transformers model (plus a peft adapter).

`TorchReplies` wraps one loaded model (training's evaluation and the benches use it directly);
`TorchEngine` is what the model service runs with `TGTWIN_SERVING_ENGINE=torch` (and on CUDA): the
base model with one swappable LoRA adapter on top.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.candidates import Reply, reply_token_ids
from model.context_window import context_window
from model.dialogue import Dialogue
from model.generation import GenerationSettings, generate_replies
from model.prompt import PromptFormat

log = logging.getLogger(__name__)


@dataclass(slots=True)
class TorchReplies:
    """A `model.candidates.ReplyEngine` over one torch model."""

    model: Any
    tokenizer: Any

    @property
    def context_window(self) -> int:
        return context_window(self.model.config, self.tokenizer)

    def sample(self, fmt: PromptFormat, dialogue: Dialogue, gen: GenerationSettings, n: int,
               should_stop: Callable[[], bool] | None = None) -> list[list[str]]:
        return generate_replies(self.model, self.tokenizer, fmt, dialogue, gen, n, should_stop=should_stop)

    def score(self, fmt: PromptFormat, dialogue: Dialogue, replies: Sequence[Reply]) -> list[float | None]:
        return score_replies(self.model, self.tokenizer, fmt, dialogue, replies)


def score_continuations(model: Any, prompt_ids: Sequence[int],
                        continuations: Sequence[Sequence[int]]) -> list[float | None]:
    """Mean log-probability per token of each continuation after one shared prompt.

    The prompt goes through the model once; its key/value cache is repeated for the continuations,
    which are scored together in one batched forward pass (right-padded, masked)."""
    import torch

    scores: list[float | None] = [None] * len(continuations)
    todo = [i for i, c in enumerate(continuations) if c]
    if not todo or not prompt_ids:
        return scores
    device = next(model.parameters()).device
    model.eval()
    with torch.inference_mode():
        prompt = torch.tensor([list(prompt_ids)], dtype=torch.long, device=device)
        out = model(input_ids=prompt, attention_mask=torch.ones_like(prompt), use_cache=True)
        first = torch.log_softmax(out.logits[0, -1].float(), dim=-1)
        cache = out.cache
        cache.batch_repeat_interleave(len(todo))
        width = max(len(continuations[i]) for i in todo)
        ids = torch.zeros((len(todo), width), dtype=torch.long, device=device)
        valid = torch.zeros((len(todo), width), dtype=torch.bool, device=device)
        for row, i in enumerate(todo):
            ids[row, :len(continuations[i])] = torch.tensor(list(continuations[i]), device=device)
            valid[row, :len(continuations[i])] = True
        prompt_mask = torch.ones((len(todo), len(prompt_ids)), dtype=torch.long, device=device)
        mask = torch.cat([prompt_mask, valid.long()], dim=1)
        logits = model(input_ids=ids, attention_mask=mask, cache=cache, use_cache=True).logits.float()
        logprobs = torch.log_softmax(logits[:, :-1], dim=-1)
        later = logprobs.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1) * valid[:, 1:]
        totals = first[ids[:, 0]] + later.sum(-1)
        for row, i in enumerate(todo):
            scores[i] = float(totals[row]) / len(continuations[i])
    return scores


def score_replies(model: Any, tokenizer: Any, fmt: PromptFormat, dialogue: Dialogue,
                  replies: Sequence[Reply]) -> list[float | None]:
    """Length-normalised log-likelihood of each reply given `dialogue` (`ReplyEngine.score`)."""
    return score_continuations(model, fmt.encode_prompt(tokenizer, dialogue), reply_token_ids(tokenizer, fmt, replies))


class TorchEngine:
    """Serving on torch: the base model, and a LoRA adapter swapped in and out with peft. Every
    method runs on the model service's worker thread."""

    name = "torch"

    def __init__(self, base_model: str, models_dir: Path) -> None:
        self.base_model, self.models_dir = base_model, models_dir
        self._base: Any = None
        self._peft: Any = None
        self._adapter_name: str | None = None
        self._count = 0
        self._threads_before: int | None = None
        self.tokenizer: Any = None
        self.device, self.dtype = "cpu", ""

    def load(self) -> None:
        import torch

        from model.sources import load_base

        self._threads_before = torch.get_num_threads()  # process-wide: restored by close()
        self._base, self.tokenizer = load_base(self.base_model, self.models_dir)
        parameter = next(self._base.parameters())
        self.device, self.dtype = str(parameter.device), str(parameter.dtype).replace("torch.", "")

    def prepare(self, adapter_dir: str) -> None:
        """Nothing to build ahead: peft reads the adapter as it is."""

    def activate(self, adapter_dir: str | None) -> None:
        """Serve `adapter_dir` (None = the bare base); on failure the old adapter stays."""
        if adapter_dir is None:
            if self._peft is not None:
                self._base = self._peft.unload()  # LoRA layers out, the original modules back
                self._peft, self._adapter_name = None, None
            return
        from peft import PeftModel

        self._count += 1
        name = f"adapter{self._count}"
        try:
            if self._peft is None:
                self._peft = PeftModel.from_pretrained(self._base, adapter_dir, adapter_name=name, is_trainable=False)
            else:
                self._peft.load_adapter(adapter_dir, adapter_name=name, is_trainable=False)
        except Exception:
            if self._peft is not None and name in self._peft.peft_config:
                self._peft.delete_adapter(name)
            raise
        self._peft.set_adapter(name)
        self._peft.eval()
        old, self._adapter_name = self._adapter_name, name
        if old is not None and old in self._peft.peft_config:
            self._peft.delete_adapter(old)

    def use_threads(self, threads: int) -> None:
        """CPU threads for the next request (process-wide in torch)."""
        import torch

        if self.device == "cpu" and torch.get_num_threads() != threads:
            torch.set_num_threads(threads)

    @property
    def threads(self) -> int:
        import torch

        return torch.get_num_threads()

    def close(self) -> None:
        if self._threads_before is not None:
            import torch

            torch.set_num_threads(self._threads_before)
            self._threads_before = None

    def sample(self, fmt: PromptFormat, dialogue: Dialogue, gen: GenerationSettings, n: int,
               should_stop: Callable[[], bool] | None = None) -> list[list[str]]:
        return self._replies().sample(fmt, dialogue, gen, n, should_stop)

    def score(self, fmt: PromptFormat, dialogue: Dialogue, replies: Sequence[Reply]) -> list[float | None]:
        return self._replies().score(fmt, dialogue, replies)

    @property
    def context_window(self) -> int:
        return self._replies().context_window

    def _replies(self) -> TorchReplies:
        return TorchReplies(self._peft if self._peft is not None else self._base, self.tokenizer)
