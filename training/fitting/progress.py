"""Training progress for the SFT fit and the DPO stage alike: every logged loss goes to one
`on_step(step, total_steps, loss)` callback instead of transformers' printer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

OnStep = Callable[[int, int, float | None], None]
"""Called with the optimizer step, the planned steps and the loss logged at that step."""


def report_progress(trainer: Any, on_step: OnStep | None) -> None:
    """Route `trainer`'s logged losses to `on_step` (when given) and drop its `PrinterCallback`,
    which would print every log dict to stdout: progress goes through `on_step` and the log."""
    from transformers import TrainerCallback
    from transformers.trainer_callback import PrinterCallback

    class Progress(TrainerCallback):
        def on_log(
            self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **kwargs: Any
        ) -> None:
            if on_step is not None and logs and "loss" in logs:
                on_step(state.global_step, state.max_steps, float(logs["loss"]))

    trainer.remove_callback(PrinterCallback)
    trainer.add_callback(Progress())
