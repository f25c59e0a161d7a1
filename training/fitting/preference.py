"""The preference stage after supervised fine-tuning: DPO on the owner's preference pairs.

`run_preference_stage(peft_model, tokenizer, fmt, pairs, config)` continues training the SFT run's
LoRA adapter with trl's `DPOTrainer`, and measures `preference_accuracy` on held-out pairs before
and after. Rows use the one `PromptFormat`, tokenised here with exact boundaries: prompt =
`fmt.encode_prompt(dialogue)`, chosen/rejected = the reply and its end of turn
(`fmt.reply_text`), exactly as SFT rows and serving split them.

The reference policy is the SFT adapter itself (trl copies the trained `default` adapter into a
frozen `ref` adapter when given a PEFT model without a new `peft_config`), not the adapter disabled:
DPO's KL anchor should be the policy we start from, and the base model is far from it, so measuring
rewards against the base would mostly reward the SFT drift, not the owner's preferences. The copy
costs one more LoRA adapter in memory (small) and is deleted after training, so the saved adapter
is the trained `default` alone.
"""

from __future__ import annotations

import logging
import math
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from model.prompt import PromptFormat
from training.config import TrainConfig
from training.data.dataset import heldout_count
from training.data.preference_pairs import PreferencePair
from training.fitting.progress import OnStep, report_progress

log = logging.getLogger(__name__)

# Pairs are few (tens), so a larger share than the SFT split is held out: an accuracy over 1-2
# pairs would say nothing.
PREFERENCE_HELDOUT_FRACTION = 0.2
# DPO over-optimises a handful of pairs quickly (the chosen/rejected margin keeps growing while the
# replies themselves degrade), so the stage stops after this many passes over its pairs even when
# `preference_steps` would allow more (e.g. 20 pairs at the QLoRA presets' 16 pairs per step).
MAX_PREFERENCE_EPOCHS = 3
_REFERENCE_ADAPTER = "ref"  # the name trl gives the frozen copy of the SFT adapter


@dataclass(frozen=True, slots=True)
class PreferenceStageResult:
    """What the stage did; `accuracy_*` are held-out preference accuracies (None: not measured)."""

    ran: bool
    reason: str
    pairs_train: int
    pairs_heldout: int
    accuracy_before: float | None
    accuracy_after: float | None
    steps: int
    seconds: float
    final_loss: float | None = None

    @classmethod
    def skipped(cls, reason: str, pairs_train: int = 0, pairs_heldout: int = 0) -> PreferenceStageResult:
        """The stage did not run, and why."""
        log.info("preference stage skipped: %s", reason)
        return cls(False, reason, pairs_train, pairs_heldout, None, None, 0, 0.0)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["seconds"] = round(self.seconds, 2)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PreferenceStageResult:
        """As a run report stored it (`as_dict`)."""
        return cls(bool(data.get("ran")), str(data.get("reason") or ""), int(data.get("pairs_train") or 0),
                   int(data.get("pairs_heldout") or 0), data.get("accuracy_before"), data.get("accuracy_after"),
                   int(data.get("steps") or 0), float(data.get("seconds") or 0.0), data.get("final_loss"))


def split_pairs(pairs: Sequence[PreferencePair]) -> tuple[list[PreferencePair], list[PreferencePair]]:
    """(train, held-out): the most recent `PREFERENCE_HELDOUT_FRACTION` are held out, as the SFT
    split does with examples, so the accuracy is measured on preferences the stage never saw."""
    ordered = sorted(pairs, key=lambda p: (p.date, p.draft_id))
    cut = len(ordered) - heldout_count(len(ordered), PREFERENCE_HELDOUT_FRACTION)
    return ordered[:cut], ordered[cut:]


def encode_pair(
    tokenizer: Any, fmt: PromptFormat, pair: PreferencePair, max_length: int | None = None
) -> dict[str, list[int]] | None:
    """`{prompt_ids, chosen_ids, rejected_ids}` with the format's exact token boundaries. Over
    `max_length`, the oldest context turns go first (the replies never do); None if even the last
    turn alone does not fit."""
    chosen = list(tokenizer.encode(fmt.reply_text(pair.chosen), add_special_tokens=False))
    rejected = list(tokenizer.encode(fmt.reply_text(pair.rejected), add_special_tokens=False))
    longest = max(len(chosen), len(rejected))
    turns = pair.dialogue.turns
    for start in range(len(turns)):
        prompt = fmt.encode_prompt(tokenizer, replace(pair.dialogue, turns=turns[start:]))
        if max_length is None or len(prompt) + longest <= max_length:
            return {"prompt_ids": prompt, "chosen_ids": chosen, "rejected_ids": rejected}
    return None


def _mean_logps(model: Any, rows: Sequence[tuple[list[int], int]], pad_id: int, batch_size: int) -> list[float]:
    """Mean log-probability per reply token of each (sequence, prompt length) row."""
    import torch

    device = next(model.parameters()).device
    out: list[float] = []
    for i in range(0, len(rows), batch_size):
        batch = rows[i:i + batch_size]
        width = max(len(ids) for ids, _ in batch)
        ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for j, (seq, _) in enumerate(batch):
            ids[j, :len(seq)] = torch.tensor(seq)
            mask[j, :len(seq)] = 1
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
        for j, (seq, prompt_len) in enumerate(batch):
            # positions prompt_len-1 .. len-2 predict the reply tokens prompt_len .. len-1
            scores = logits[j, prompt_len - 1:len(seq) - 1].float().log_softmax(-1)
            targets = ids[j, prompt_len:len(seq)].to(scores.device)
            out.append(float(scores.gather(-1, targets[:, None]).mean()))
    return out


def preference_accuracy(
    model: Any,
    tokenizer: Any,
    fmt: PromptFormat,
    pairs: Sequence[PreferencePair],
    max_length: int | None = None,
    batch_size: int = 8,
) -> float | None:
    """Share of pairs whose chosen reply the model finds more likely than the rejected one, by mean
    log-likelihood per token in the pair's context (None: no pair fits `max_length`).

    Per token, not summed: the owner's edits often shorten or lengthen a reply, and a summed
    likelihood prefers the shorter text whatever its style."""
    import torch

    encoded = [row for row in (encode_pair(tokenizer, fmt, p, max_length) for p in pairs) if row is not None]
    if not encoded:
        return None
    rows: list[tuple[list[int], int]] = []
    for row in encoded:
        n = len(row["prompt_ids"])
        rows += [(row["prompt_ids"] + row["chosen_ids"], n), (row["prompt_ids"] + row["rejected_ids"], n)]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logps = _mean_logps(model, rows, pad_id, batch_size)
    finally:
        model.train(was_training)
    wins = sum(logps[2 * i] > logps[2 * i + 1] for i in range(len(encoded)))
    return wins / len(encoded)


def stage_steps(config: TrainConfig, train_pairs: int) -> int:
    """`preference_steps`, capped at `MAX_PREFERENCE_EPOCHS` passes over the training pairs."""
    per_step = config.batch_size * config.grad_accum
    return max(1, min(config.preference_steps, MAX_PREFERENCE_EPOCHS * math.ceil(train_pairs / per_step)))


def dpo_config(config: TrainConfig, output_dir: Path, cuda: bool, max_steps: int) -> Any:
    """trl 1.16 `DPOConfig` from our preset (its GPU-first defaults, bf16 and gradient
    checkpointing on, are set from the preset instead)."""
    from trl import DPOConfig

    from training.fitting.fit import trainer_arguments

    return DPOConfig(
        **trainer_arguments(config, output_dir, cuda),
        max_steps=max_steps,
        learning_rate=config.preference_learning_rate,
        beta=config.preference_beta,
        save_strategy="no",
    )


def run_preference_stage(
    peft_model: Any,
    tokenizer: Any,
    fmt: PromptFormat,
    pairs: Sequence[PreferencePair],
    config: TrainConfig,
    on_step: OnStep | None = None,
) -> PreferenceStageResult:
    """DPO-train `peft_model`'s active (`default`) LoRA adapter in place on `pairs`, against a frozen
    copy of itself; runs only with at least `config.preference_min_pairs` pairs and
    `config.preference_steps` > 0. Afterwards the model holds the trained adapter alone."""
    if config.preference_steps == 0:
        return PreferenceStageResult.skipped("disabled (preference_steps = 0)")
    if len(pairs) < config.preference_min_pairs:
        return PreferenceStageResult.skipped(f"{len(pairs)} preference pairs, fewer than {config.preference_min_pairs}")
    train, heldout = split_pairs(pairs)
    rows = [r for r in (encode_pair(tokenizer, fmt, p, config.max_length) for p in train) if r is not None]
    if not rows:
        return PreferenceStageResult.skipped(
            f"no training pair fits max_length {config.max_length}", len(train), len(heldout))
    import torch  # the checks above run without loading trl (most runs have too few pairs)
    from datasets import Dataset
    from trl import DPOTrainer

    class PretokenizedDPOTrainer(DPOTrainer):
        """Rows come tokenised by our `PromptFormat`; trl's own tokenising would re-render the text
        and append EOS after our end of turn, moving the boundaries."""

        def _prepare_dataset(self, dataset: Any, *args: Any, **kwargs: Any) -> Any:
            return dataset

    before = preference_accuracy(peft_model, tokenizer, fmt, heldout, config.max_length)
    cuda = torch.cuda.is_available()
    with tempfile.TemporaryDirectory(prefix="tgtwin-dpo-") as output_dir:
        trainer = PretokenizedDPOTrainer(
            model=peft_model,
            ref_model=None,
            args=dpo_config(config, Path(output_dir), cuda, stage_steps(config, len(rows))),
            train_dataset=Dataset.from_list(rows),
            processing_class=tokenizer,
        )
        report_progress(trainer, on_step)
        started = time.perf_counter()
        try:
            trainer.train()
        finally:
            if _REFERENCE_ADAPTER in peft_model.peft_config:
                peft_model.delete_adapter(_REFERENCE_ADAPTER)
        seconds = time.perf_counter() - started
    losses = [float(e["loss"]) for e in trainer.state.log_history if "loss" in e]
    after = preference_accuracy(peft_model, tokenizer, fmt, heldout, config.max_length)
    log.info("preference stage: %d train / %d held-out pairs, %d steps in %.1fs, accuracy %s -> %s",
             len(rows), len(heldout), trainer.state.global_step, seconds, before, after)
    return PreferenceStageResult(
        ran=True, reason=f"{len(pairs)} preference pairs", pairs_train=len(rows), pairs_heldout=len(heldout),
        accuracy_before=before, accuracy_after=after, steps=trainer.state.global_step, seconds=seconds,
        final_loss=losses[-1] if losses else None,
    )
