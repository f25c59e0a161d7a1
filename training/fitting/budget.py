"""A time budget for a training run: steps follow from the throughput measured as it trains.

Every `CALIBRATION_STEPS` optimizer steps the time of the most recent steps is measured (never the
first, which carries one-off warm-up costs); if the planned steps would overrun the budget, the run
is re-planned to the steps that fit: the learning-rate schedule is re-fitted to the new length (so a
cosine schedule still decays to its end) and training stops there. The next plans follow the
machine: a run whose first steps were slow gets the steps back, one that slows down loses some, and
a run still stops when the budget is spent. A run that fits keeps its plan. The run report then
says which share of an epoch was covered.

Steps that fit. A run in a fixed order (`fit(..., ordered=True)`) knows the tokens every step will
train, so it fits each measured step's seconds as a fixed part plus a part per token (`StepCost`)
and counts the steps whose cost fits the rest of the budget (`steps_that_fit`): its order can open
with rows of another length than the rest (memory drills are short, rows with a memory block long),
and a time per step measured there misjudges the rest. Measured per step over the first 3 steps, a
run of issue 20's bench planned 99 steps and stopped after 7.2 of its 9 minutes; over 16 steps, 90
steps in 7.4 minutes; by seconds per token alone, a run opening with short drills stopped after 7.3
minutes (a step's fixed cost counted as tokens), and with that cost fitted, once after 16 steps,
after 7.2 minutes again: its first steps were slower than the rest, so the plan is made again every
16 steps from the last 32 (`RECENT_STEPS`). A shuffled run plans by seconds per step
(`planned_steps`), measured over one chunk of length-batched sequences at least (`GROUP_BATCHES` steps).

Extra time. Some of a step's tokens can be paid from an extra allowance instead of the budget
(`StepTokens.extra`: what memory adds to a run, `TrainConfig.memory_time_share`): a step's
seconds are split between the two by its tokens, and the run may go on past the budget by what its
steps so far spent on extra tokens, up to the allowance. So the budget buys the same share of a
history with memory on as with it off, and memory's cost shows as minutes.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from training.data.curriculum import GROUP_BATCHES

log = logging.getLogger(__name__)

CALIBRATION_STEPS = GROUP_BATCHES
"""Steps measured before the run is planned, and between two plans: at least one chunk of batches
batched by length (a step is `grad_accum` >= 1 batches)."""
RECENT_STEPS = 2 * CALIBRATION_STEPS
"""Steps a plan measures: the most recent ones, so that a machine that speeds up or slows down
(shared CPUs, a first pass through new shapes) is followed."""


def planned_steps(budget_s: float, elapsed_s: float, per_step_s: float, done: int, planned: int) -> int:
    """Steps that fit: the ones done plus what the remaining budget allows at `per_step_s`, at
    most `planned`, at least `done`."""
    if per_step_s <= 0:
        return planned
    fit = done + int(max(0.0, budget_s - elapsed_s) / per_step_s)
    return max(done, min(planned, fit))


@dataclass(frozen=True, slots=True)
class StepCost:
    """Seconds a step takes: `per_step_s` whatever it trains, plus `per_token_s` per token."""

    per_step_s: float
    per_token_s: float

    @classmethod
    def of(cls, seconds: Sequence[float], tokens: Sequence[int]) -> StepCost:
        """Fitted to measured steps (least squares). When the fit cannot tell the two parts apart
        (one length only) or gives one below zero, the other carries it all."""
        n, total_s, total_t = len(seconds), sum(seconds), sum(tokens)
        if not n or total_t <= 0:
            return cls(total_s / n if n else 0.0, 0.0)
        mean_s, mean_t = total_s / n, total_t / n
        variance = sum((t - mean_t) ** 2 for t in tokens)
        if not variance:
            return cls(0.0, total_s / total_t)
        slope = sum((t - mean_t) * (s - mean_s) for s, t in zip(seconds, tokens, strict=True)) / variance
        if slope <= 0:
            return cls(mean_s, 0.0)
        if mean_s - slope * mean_t < 0:
            return cls(0.0, total_s / total_t)
        return cls(mean_s - slope * mean_t, slope)

    def seconds(self, tokens: int) -> float:
        return self.per_step_s + self.per_token_s * tokens


@dataclass(frozen=True, slots=True)
class StepTokens:
    """The tokens each step of an epoch trains (more epochs repeat them), and how many of them are
    paid from the extra allowance of `extra_s` seconds (empty: none)."""

    tokens: Sequence[int]
    extra: Sequence[int] = ()
    extra_s: float = 0.0

    def extra_seconds(self, cost: StepCost, step: int) -> float:
        """The share of step `step`'s seconds that its extra tokens take."""
        if not self.extra or not self.extra_s:
            return 0.0
        tokens = self.tokens[step % len(self.tokens)]
        return cost.seconds(tokens) * self.extra[step % len(self.extra)] / tokens if tokens else 0.0

    def earned_s(self, cost: StepCost, steps: int) -> float:
        """What the first `steps` steps spend on extra tokens."""
        return sum(self.extra_seconds(cost, i) for i in range(steps))

    def allowed_s(self, budget_s: float, earned_s: float) -> float:
        """The budget plus the extra time earned, up to the allowance."""
        return budget_s + min(self.extra_s, earned_s)


def steps_that_fit(budget_s: float, elapsed_s: float, cost: StepCost, done: int, planned: int,
                   step_tokens: StepTokens) -> int:
    """Steps that fit when step `i` trains `step_tokens.tokens[i % len(...)]` tokens: the ones done
    plus those whose cost the remaining budget (with the extra time their extra tokens earn) allows,
    at most `planned`, at least `done`."""
    if cost.seconds(1) <= 0 or not step_tokens.tokens:
        return planned
    tokens = step_tokens.tokens
    used, earned, steps = elapsed_s, step_tokens.earned_s(cost, done), done
    while steps < planned:
        used += cost.seconds(tokens[steps % len(tokens)])
        earned += step_tokens.extra_seconds(cost, steps)
        if used > step_tokens.allowed_s(budget_s, earned):
            break
        steps += 1
    return steps


def schedule_factor(name: str, warmup: int, total: int) -> Callable[[int], float]:
    """The learning-rate multiplier per step for the schedulers presets use (cosine, linear,
    constant with or without warmup); same formulas as transformers'."""
    def factor(step: int) -> float:
        if step < warmup:
            return step / max(1, warmup)
        if name.startswith("constant"):
            return 1.0
        progress = (step - warmup) / max(1, total - warmup)
        if name == "linear":
            return max(0.0, 1.0 - progress)
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))
    return factor


def budget_callback(budget_minutes: float, lr_scheduler_name: str, warmup_ratio: float,
                    step_tokens: StepTokens | None = None) -> Any:
    """A transformers `TrainerCallback` enforcing the budget; `.stopped` tells whether it cut the run.
    `step_tokens`: what each step of an epoch trains, for a run in a fixed order (plans by tokens,
    with its extra time); None: plans by steps."""
    from transformers import TrainerCallback

    class TimeBudget(TrainerCallback):
        def __init__(self) -> None:
            self.started = 0.0
            self.last = 0.0
            """When the last step ended (0: no step yet)."""
            self.seconds: list[float] = []
            self.limit: int | None = None
            self.planned: int | None = None
            """The steps the run had planned before the budget cut them (None until the first plan)."""
            self.stopped = False
            self.allowed_s = budget_minutes * 60
            """When the run must stop whatever was planned: the budget, plus the extra time the
            planned steps earn (`StepTokens.allowed_s`)."""

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.started = time.perf_counter()

        def _plan(self, state: Any, done: int, now: float, scheduler: Any) -> None:
            if self.planned is None:
                self.planned = state.max_steps
            budget_s, elapsed_s = budget_minutes * 60, now - self.started
            recent = self.seconds[-RECENT_STEPS:]
            if step_tokens is not None and step_tokens.tokens:
                every = step_tokens.tokens
                cost = StepCost.of(recent, [every[i % len(every)] for i in range(done - len(recent), done)])
                limit = steps_that_fit(budget_s, elapsed_s, cost, done, self.planned, step_tokens)
                self.allowed_s = step_tokens.allowed_s(budget_s, step_tokens.earned_s(cost, limit))
            else:
                limit = planned_steps(budget_s, elapsed_s, sum(recent) / len(recent), done, self.planned)
            self.stopped = limit < self.planned
            if limit != state.max_steps:
                log.info("time budget: %d steps (planned %d) after %d in %.0f s, stop by %.0f s", limit, self.planned,
                         done, elapsed_s, self.allowed_s)
                _refit_schedule(scheduler, lr_scheduler_name, warmup_ratio, limit, done)
                state.max_steps = limit
            self.limit = limit

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            now = time.perf_counter()
            done = state.global_step
            if self.last:
                self.seconds.append(now - self.last)  # steps 2.. (the first carries warm-up costs)
                if done >= CALIBRATION_STEPS and done % CALIBRATION_STEPS == 0:
                    self._plan(state, done, now, kwargs.get("lr_scheduler"))
            self.last = now
            if self.limit is not None and done >= self.limit:
                control.should_training_stop = True
            elif now - self.started >= self.allowed_s:  # slower than measured: stop on time anyway
                self.stopped = control.should_training_stop = True

    return TimeBudget()


def _refit_schedule(scheduler: Any, name: str, warmup_ratio: float, limit: int, done: int) -> None:
    """Point the trainer's LambdaLR at a schedule of `limit` steps (from step `done` on)."""
    if scheduler is None or not hasattr(scheduler, "lr_lambdas"):
        return
    warmup = math.ceil(warmup_ratio * limit) if warmup_ratio < 1 else int(warmup_ratio)
    factor = schedule_factor(name, warmup, limit)
    scheduler.lr_lambdas = [factor for _ in scheduler.lr_lambdas]
    for group in scheduler.optimizer.param_groups:
        group["lr"] = group["initial_lr"] * factor(done)
