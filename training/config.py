"""Typed fine-tuning configuration; presets are files in `training/presets/` (YAML or JSON).

One dataclass, a docstring per field, checks in `__post_init__` (litgpt's habit), so a bad preset
fails at load time with a readable message instead of half-way through a run.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

PRESETS_DIR = Path(__file__).parent / "presets"
Quantization = Literal["auto", "4bit", "8bit", "none"]


class PresetError(ValueError):
    """A preset is missing or invalid."""


@dataclass(frozen=True)
class TrainConfig:
    name: str
    """Preset name (the file name without extension)."""
    description: str = ""
    """One line for `--help` and the panel."""
    base_model: str | None = None
    """Model spec to fine-tune (hub id, local dir, `bundled:smollm2-135m`, `tiny`); None = settings.base_model.
    An adapter only serves on the base it was trained on, so the gate refuses one whose base is not served."""
    quantization: Quantization = "none"
    """Weights while training: `4bit` = QLoRA (CUDA only); `auto` = 4-bit on CUDA, none on CPU."""

    lora_r: int = 8
    """LoRA rank."""
    lora_alpha: int = 16
    """LoRA scaling numerator (scale = alpha / r)."""
    lora_dropout: float = 0.05
    """Dropout on the LoRA path."""
    target_modules: list[str] | str = "all-linear"
    """Modules that get LoRA: a list of names or `all-linear`. The original project's q/k/v-only LoRA
    learned style slowly; all linear layers cost little more at this rank."""
    lora_last_layers: int | None = None
    """LoRA only in the last N transformer layers (None = all). Backpropagation then stops at the
    lowest adapted layer, so on CPU a step costs little more than a forward pass."""

    epochs: float = 1.0
    """Passes over the training examples (ignored when `max_steps` > 0)."""
    max_steps: int = -1
    """Stop after this many optimizer steps (-1 = run `epochs`)."""
    learning_rate: float = 2e-4
    """Peak learning rate. LoRA wants ~10x the full-fine-tune rate (the original's 2e-5 barely moved)."""
    lr_scheduler: str = "cosine"
    """transformers scheduler name."""
    warmup_ratio: float = 0.03
    """Share of steps spent warming up the learning rate."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    time_budget_minutes: float | None = None
    """Wall-clock budget of the training steps (None = none). The seconds per step measured in the
    first steps decide how many fit; the run stops there (schedule re-fitted) and its report says
    which share of an epoch it covered (`epochs_covered`)."""
    batch_size: int = 4
    """Sequences (packed bins when `packing`) per device per step."""
    grad_accum: int = 1
    """Micro-batches accumulated per optimizer step."""
    max_length: int = 512
    """Longest example in tokens (context is cut from the left, the reply is kept); also the packed length."""
    packing: bool = True
    """Benches calling `fit` directly (`bench/train_bench.py`): pack examples into `max_length` bins,
    padding-free (trl BFD), vs. padded batches of similar length, which measured ~4x faster on CPU.
    Runs never pack: they train their sequences in coverage order (`training.data.curriculum`), and a
    packed bin mixes sequences from all over the run, so a run cut by its budget could not tell
    which turns it has learned."""
    gradient_checkpointing: bool = False
    """Trade compute for memory (needed for 7-8B models on one GPU)."""
    bf16: bool = False
    """bf16 mixed precision (GPU)."""
    seed: int = 42
    """Shuffling and LoRA init seed."""
    logging_steps: int = 5
    """Record the loss (and progress) every N steps."""
    save_steps: int = 50
    """Checkpoint every N steps so an interrupted run resumes."""

    eval_max_examples: int = 200
    """Held-out examples scored for perplexity (the most recent ones)."""
    eval_generate: int = 12
    """Held-out examples to generate replies for (style metrics)."""
    eval_samples: int = 3
    """Side-by-side samples kept in the report."""
    eval_max_new_tokens: int | None = None
    """Longest generated reply in the style evaluation (None = settings.max_new_tokens)."""
    preference_min_pairs: int = 20
    """Run the DPO stage after SFT only with at least this many preference pairs (edited or replaced
    drafts); fewer give a held-out accuracy too noisy to judge. `TGTWIN_PREFERENCE_MIN_PAIRS` overrides."""
    preference_steps: int = 30
    """Optimizer steps of the DPO stage (0 = never run it)."""
    preference_beta: float = 0.1
    """DPO beta: how far the adapter may move from its SFT self (higher = stays closer)."""
    preference_learning_rate: float = 5e-5
    """DPO learning rate; lower than SFT's, since the stage only nudges an already trained adapter."""
    fresh: bool = False
    """Start from the base model instead of continuing the adapter of the last run (or the served
    one). `main.py train --fresh` and `TGTWIN_TRAIN_FRESH=1` set it for one run or for all."""
    replay_share: float = 0.2
    """Share of a continuing run's sequences that replay turns its adapter has learned already,
    mixed in evenly with the new ones, so old turns are not forgotten while the rest of a long
    history is learned (~20 %: a run still spends most of its budget on what it has not seen)."""
    memory_share: float = 0.5
    """Share of the new sequences at the front of a run's order that are memory drills, until they
    run out (`training.data.curriculum`)."""
    memory_drills: int = 3
    """Drills (short rows: prompt with memory, then the reply) for each owner reply that uses a rare
    word only its recalled exchanges hold (`training.data.sequences.memory_drills`; 0: none). Such
    replies are a few percent of a history (issue 20's bench: 103 of 1,271 sequences of a generated
    10,000-owner-message history) and a run cut by its budget sees its share of them once at most:
    too few for the model to learn to read the memory block."""
    memory_time_share: float = 1.0
    """Most time a run in the coverage order may add to `time_budget_minutes` for the tokens memory
    adds to its rows (a drill whole, a conversation row's memory block), as a share of the budget
    (0: they come out of the budget like any other). With memory on, the same history is ~44 % more
    tokens (issue 20's bench: blocks +25k, drills +31k on 126k); in the same 9 minutes a first run
    learned 33 % of the owner's turns against 55 % without memory, hits@1 0.746 against 0.840 on 256
    held-out contexts. Paid in minutes (the first run 14.7 instead of 9, most of it the drills), it
    learned 61 % against 63 %, hits@1 0.836 against 0.863; at 0.5 (13.5 minutes) 44 % against 59 %."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Free-form hints for other runners (e.g. accelerate launch settings); not read by the trainer."""

    def __post_init__(self) -> None:
        checks = [
            (self.lora_r > 0, "lora_r must be > 0"),
            (0 <= self.replay_share < 1, "replay_share must be in [0, 1)"),
            (0 <= self.memory_share < 1, "memory_share must be in [0, 1)"),
            (self.memory_drills >= 0, "memory_drills must be >= 0"),
            (0 <= self.memory_time_share <= 1, "memory_time_share must be in [0, 1]"),
            (self.lora_alpha > 0, "lora_alpha must be > 0"),
            (0 <= self.lora_dropout < 1, "lora_dropout must be in [0, 1)"),
            (self.epochs > 0 or self.max_steps > 0, "set epochs > 0 or max_steps > 0"),
            (self.learning_rate > 0, "learning_rate must be > 0"),
            (self.time_budget_minutes is None or self.time_budget_minutes > 0, "time_budget_minutes must be > 0"),
            (0 <= self.warmup_ratio < 1, "warmup_ratio must be in [0, 1)"),
            (self.batch_size >= 1 and self.grad_accum >= 1, "batch_size and grad_accum must be >= 1"),
            (self.max_length >= 32, "max_length must be >= 32"),
            (self.logging_steps >= 1 and self.save_steps >= 1, "logging_steps and save_steps must be >= 1"),
            (self.quantization in ("auto", "4bit", "8bit", "none"), "quantization must be auto, 4bit, 8bit or none"),
            (self.eval_max_examples >= 1, "eval_max_examples must be >= 1"),
            (0 <= self.eval_samples <= self.eval_generate, "eval_samples must be in [0, eval_generate]"),
            (bool(self.target_modules), "target_modules must not be empty"),
            (self.lora_last_layers is None or self.lora_last_layers >= 1, "lora_last_layers must be >= 1"),
            (self.preference_min_pairs >= 2, "preference_min_pairs must be >= 2 (one to train, one held out)"),
            (self.preference_steps >= 0, "preference_steps must be >= 0"),
            (self.preference_beta > 0 and self.preference_learning_rate > 0,
             "preference_beta and preference_learning_rate must be > 0"),
            (self.lora_last_layers is None or isinstance(self.target_modules, list),
             "lora_last_layers needs target_modules as a list of module names (peft rule)"),
        ]
        errors = [message for ok, message in checks if not ok]
        if errors:
            raise PresetError(f"preset {self.name!r}: " + "; ".join(errors))

    def with_overrides(self, **overrides: Any) -> TrainConfig:
        """A copy with some fields changed (CLI flags, tests); unknown names are an error."""
        known = {f.name for f in fields(self)}
        unknown = set(overrides) - known
        if unknown:
            raise PresetError(f"unknown training settings: {', '.join(sorted(unknown))}")
        return replace(self, **overrides)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainConfig:
        """A preset as a run report stored it (`as_dict`): settings this version no longer has are
        left out, ones added since take their defaults; PresetError where today's checks refuse it."""
        known = {f.name for f in fields(cls)}
        return cls(**{"name": "", **{k: v for k, v in data.items() if k in known}})


def preset_path(name: str) -> Path:
    for suffix in (".yaml", ".yml", ".json"):
        path = PRESETS_DIR / f"{name}{suffix}"
        if path.is_file():
            return path
    raise PresetError(f"no preset named {name!r}; known: {', '.join(list_presets())}")


def list_presets() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.iterdir() if p.suffix in (".yaml", ".yml", ".json"))


def load_preset(name: str) -> TrainConfig:
    """Read `training/presets/<name>.(yaml|json)` into a checked `TrainConfig`."""
    path = preset_path(name)
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        data = json.loads(text)
    else:
        import yaml

        data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise PresetError(f"{path.name}: expected a mapping of settings")
    known = {f.name for f in fields(TrainConfig)}
    unknown = set(data) - known
    if unknown:
        raise PresetError(f"{path.name}: unknown settings {', '.join(sorted(unknown))}")
    return TrainConfig(name=name, **{k: v for k, v in data.items() if k != "name"})
