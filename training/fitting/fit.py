"""The fit part of a run: trl `SFTTrainer` + peft LoRA on pre-tokenised rows (loss only on the
owner's replies), packed padding-free batches, an optional time budget, resumable checkpoints.

`fit(model, tokenizer, rows, config, output_dir)` returns the peft model and a `FitResult`;
`training.runs.continual.train_adapter` calls it (every process of a run) with `ordered=True` and the
adapter the run continues, and the benches call it directly. Checkpoints live under
`data/checkpoints/<preset>-<digest of preset, base, adapter continued and rows>`, so a rerun of the
same data resumes and a changed one starts afresh.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from settings import Settings
from training.config import TrainConfig
from training.fitting.progress import OnStep, report_progress

log = logging.getLogger(__name__)


@dataclass(slots=True)
class FitResult:
    """What `fit` measured."""

    steps: int
    loss_curve: list[list[float]]
    seconds: float
    real_tokens: int
    total_positions: int
    resumed_from: str | None = None
    sequences_per_step: int = 1
    """Training sequences one optimizer step consumes (batch size x accumulation)."""
    stopped_by_budget: bool = False
    """The time budget ended the run before its planned steps."""

    def epochs_covered(self, rows: int) -> float:
        """Share of an epoch (passes over the `rows` training sequences) the steps covered."""
        return self.steps * self.sequences_per_step / rows if rows else 0.0

    @property
    def real_token_share(self) -> float:
        return self.real_tokens / self.total_positions if self.total_positions else 0.0

    @property
    def tokens_per_second(self) -> float:
        """Real (non-padding) tokens trained on per second."""
        return self.real_tokens / self.seconds if self.seconds > 0 else 0.0


def checkpoint_dir(
    settings: Settings, config: TrainConfig, base_spec: str, rows: list[dict[str, list[int]]], parent: str | None = None
) -> Path:
    """Checkpoints of one (preset, base, adapter continued, data) combination: a rerun of the same
    data resumes from them."""
    digest = hashlib.sha256()
    digest.update(json.dumps([config.as_dict(), base_spec, parent], sort_keys=True, default=str).encode())
    for row in rows:
        digest.update(json.dumps(row["input_ids"]).encode())
    return settings.data_dir / "checkpoints" / f"{config.name}-{digest.hexdigest()[:12]}"


def clear_checkpoints(settings: Settings, config: TrainConfig) -> None:
    root = settings.data_dir / "checkpoints"
    for path in root.glob(f"{config.name}-*") if root.is_dir() else ():
        shutil.rmtree(path, ignore_errors=True)


def latest_checkpoint(output_dir: Path) -> Path | None:
    if not output_dir.is_dir():
        return None
    found = sorted(output_dir.glob("checkpoint-*"), key=_checkpoint_step)
    return found[-1] if found else None


def _checkpoint_step(checkpoint: Path) -> int:
    """The step of `checkpoint-<step>` (-1 for a name without one, sorted first)."""
    number = checkpoint.name.split("-")[-1]
    return int(number) if number.isdigit() else -1


def lora_config(config: TrainConfig, num_layers: int | None = None) -> Any:
    from peft import LoraConfig

    layers = None
    if config.lora_last_layers is not None and num_layers:
        layers = list(range(max(0, num_layers - config.lora_last_layers), num_layers))
    return LoraConfig(
        r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
        target_modules=config.target_modules, bias="none", task_type="CAUSAL_LM",
        layers_to_transform=layers, layers_pattern="layers" if layers is not None else None,
    )


def sft_config(
    config: TrainConfig, output_dir: Path, cuda: bool, *, packing: bool | None = None,
    group_by_length: bool | None = None, ordered: bool = False,
) -> Any:
    """trl 1.16 `SFTConfig` from our config. Pre-tokenised rows carry `labels` (-100 outside the
    owner's reply), which trl keeps as they are; with packing it packs them best-fit-decreasing and
    runs padding-free (position ids restart per example, so attention never crosses examples).
    `ordered`: the rows are in the order to train them (unpacked, not shuffled)."""
    from trl import SFTConfig

    packing = False if ordered else (config.packing if packing is None else packing)
    # Without packing, batch examples of similar length (less padding than random order).
    group_by_length = not packing if group_by_length is None else group_by_length
    sampling = "sequential" if ordered else ("group_by_length" if group_by_length else "random")
    return SFTConfig(
        **trainer_arguments(config, output_dir, cuda),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        learning_rate=config.learning_rate,
        weight_decay=config.weight_decay,
        logging_first_step=True,
        save_steps=config.save_steps,
        save_total_limit=1,
        packing=packing,
        packing_strategy="bfd",
        pad_to_multiple_of=None,
        train_sampling_strategy=sampling,
    )


def trainer_arguments(config: TrainConfig, output_dir: Path, cuda: bool) -> dict[str, Any]:
    """The trainer arguments every stage (SFT, DPO) takes from the preset alike: batch, schedule,
    precision (bf16 only on CUDA), logging, and CPU/quiet settings."""
    return {
        "output_dir": str(output_dir),
        "per_device_train_batch_size": config.batch_size,
        "gradient_accumulation_steps": config.grad_accum,
        "lr_scheduler_type": config.lr_scheduler,
        "warmup_steps": config.warmup_ratio,
        "logging_steps": config.logging_steps,
        "seed": config.seed,
        "bf16": config.bf16 and cuda,
        "fp16": False,
        "gradient_checkpointing": config.gradient_checkpointing,
        "max_length": config.max_length,
        "use_cpu": not cuda,
        "report_to": "none",
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
    }


def fit(
    model: Any,
    tokenizer: Any,
    rows: list[dict[str, list[int]]],
    config: TrainConfig,
    output_dir: Path,
    on_step: OnStep | None = None,
    *,
    packing: bool | None = None,
    group_by_length: bool | None = None,
    ordered: bool = False,
    adapter: Path | None = None,
    memory_tokens: Sequence[int] = (),
) -> tuple[Any, FitResult]:
    """LoRA-fine-tune `model` on `rows`; returns the peft model and what was measured. Resumes from
    the newest checkpoint in `output_dir` if an earlier run of the same data was interrupted.

    `ordered`: train the rows in the given order, unpacked and unshuffled (what continual runs
    account coverage by: `training.data.curriculum`). `adapter`: continue training this saved LoRA
    adapter (its own shape) instead of a new one from the preset. `memory_tokens`: per row, the tokens
    memory adds to it, whose time an ordered run pays from `config.memory_time_share` of its budget
    (`training.fitting.budget.StepTokens`)."""
    import torch
    from datasets import Dataset
    from trl import SFTTrainer

    from training.fitting.budget import StepTokens, budget_callback

    counts = {"real": 0, "total": 0}

    class CountingTrainer(SFTTrainer):
        """Counts real tokens vs positions in every batch trained on (the padding waste)."""

        def training_step(self, model: Any, inputs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
            ids = inputs["input_ids"]
            counts["total"] += ids.numel()
            mask = inputs.get("attention_mask")
            # Padding-free batches are one flat row of real tokens (we set pad_to_multiple_of=None).
            counts["real"] += int(mask.sum()) if mask is not None else ids.numel()
            return super().training_step(model, inputs, *args, **kwargs)

    dataset = Dataset.from_list(rows)
    cuda = torch.cuda.is_available()
    peft_config = None
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter), is_trainable=True)
    else:
        peft_config = lora_config(config, getattr(model.config.get_text_config(), "num_hidden_layers", None))
    trainer = CountingTrainer(
        model=model,
        args=sft_config(config, output_dir, cuda, packing=packing, group_by_length=group_by_length, ordered=ordered),
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
    )
    report_progress(trainer, on_step)
    budget = None
    per_step = config.batch_size * config.grad_accum * _world_size()
    if config.time_budget_minutes is not None:
        # In a fixed order, the tokens each step trains are known: the budget plans by them.
        step_tokens = None
        if ordered:
            steps = range(0, len(rows), per_step)
            step_tokens = StepTokens([sum(len(r["input_ids"]) for r in rows[i:i + per_step]) for i in steps],
                                     [sum(memory_tokens[i:i + per_step]) for i in steps] if memory_tokens else [],
                                     config.time_budget_minutes * config.memory_time_share * 60)
        budget = budget_callback(config.time_budget_minutes, config.lr_scheduler, config.warmup_ratio, step_tokens)
        trainer.add_callback(budget)
    resume = latest_checkpoint(output_dir)
    if resume is not None:
        log.info("resuming from %s", resume.name)
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    seconds = time.perf_counter() - started
    curve = [[entry["step"], round(float(entry["loss"]), 5)] for entry in trainer.state.log_history if "loss" in entry]
    result = FitResult(
        steps=trainer.state.global_step, loss_curve=curve, seconds=seconds,
        real_tokens=counts["real"], total_positions=counts["total"],
        resumed_from=resume.name if resume else None,
        sequences_per_step=per_step,
        stopped_by_budget=bool(budget is not None and budget.stopped),
    )
    return trainer.model, result


def _world_size() -> int:
    """Processes training together (torchrun sets WORLD_SIZE); each consumes its own batches."""
    import os

    return max(1, int(os.environ.get("WORLD_SIZE", "1") or 1))
