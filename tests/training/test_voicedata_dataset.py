"""Training conversations from stored history: blocked turns are cut out (the session splits around
them), the language warning and the time-budget arithmetic."""

from __future__ import annotations

from model.dialogue import Dialogue, Turn
from training.config import load_preset
from training.data.dataset import session_conversations
from training.data.language import language_warning
from training.fitting.budget import planned_steps, schedule_factor

HEADER = Dialogue((), "Anna", None, False)


def _t(role: str, text: str, date: int) -> Turn:
    return Turn(role, (text,), None, date)  # type: ignore[arg-type]


def test_a_session_splits_around_blocked_turns() -> None:
    session = [_t("partner", "hi", 1), _t("owner", "hey", 2), _t("partner", "secret plan", 3), _t("owner", "ok", 4),
               _t("partner", "secret again", 5), _t("partner", "no owner turn after it", 6)]
    conversations = session_conversations(1, HEADER, session, ["secret"])
    texts = [[t.text for t in c.dialogue.turns] for c in conversations]
    assert texts == [["hi", "hey"], ["ok"]]  # a part without an owner turn teaches nothing
    assert all(c.dialogue.partner_name == "Anna" for c in conversations)


def test_language_warning_for_a_mostly_cyrillic_owner() -> None:
    russian = ["привет, как дела?", "да, давай завтра", "ok"]
    warning = language_warning(russian, "bundled:smollm2-135m")
    assert warning is not None and warning.script == "Cyrillic" and warning.share > 0.5
    assert "Qwen" in warning.message
    assert language_warning(["hello there", "привет"], "bundled:smollm2-135m") is None
    assert language_warning(russian, "Qwen/Qwen2.5-0.5B-Instruct") is None
    assert language_warning([], "bundled:smollm2-135m") is None


def test_budget_plans_the_steps_that_fit() -> None:
    assert planned_steps(budget_s=600, elapsed_s=60, per_step_s=10, done=3, planned=1000) == 57
    assert planned_steps(budget_s=600, elapsed_s=60, per_step_s=1, done=3, planned=100) == 100
    assert planned_steps(budget_s=60, elapsed_s=90, per_step_s=1, done=3, planned=100) == 3
    cosine = schedule_factor("cosine", warmup=2, total=10)
    assert cosine(0) == 0 and cosine(2) == 1 and abs(cosine(10)) < 1e-9 and 0 < cosine(6) < 1


def test_multilingual_and_default_presets_load() -> None:
    for name in ("qwen2.5-0.5b-cpu", "qwen2.5-1.5b-cpu"):
        config = load_preset(name)
        assert config.base_model and config.base_model.startswith("Qwen/Qwen2.5-")
    default = load_preset("smollm2-cpu")
    assert default.time_budget_minutes is not None and default.max_steps == -1 and default.epochs >= 1


def test_a_run_in_a_fixed_order_plans_its_steps_by_their_tokens() -> None:
    from training.fitting.budget import StepCost, StepTokens, steps_that_fit

    # Long steps first, short ones after (10 s each at 0.1 s a token).
    tokens = StepTokens([400, 400, 400, 100, 100, 100, 100, 100])
    per_token_s = StepCost(0.0, 0.1)
    assert steps_that_fit(budget_s=220, elapsed_s=120, cost=per_token_s, done=3, planned=8, step_tokens=tokens) == 8
    assert steps_that_fit(budget_s=160, elapsed_s=120, cost=per_token_s, done=3, planned=8, step_tokens=tokens) == 7
    assert steps_that_fit(budget_s=150, elapsed_s=120, cost=per_token_s, done=3, planned=8, step_tokens=tokens) == 6
    assert steps_that_fit(budget_s=150, elapsed_s=160, cost=per_token_s, done=3, planned=8, step_tokens=tokens) == 3
    # A second epoch repeats the first's steps; the plan stays the cap.
    assert steps_that_fit(budget_s=1000, elapsed_s=0, cost=per_token_s, done=3, planned=10, step_tokens=tokens) == 10
    assert steps_that_fit(budget_s=100, elapsed_s=0, cost=per_token_s, done=8, planned=16, step_tokens=tokens) == 10


def test_a_steps_cost_is_a_fixed_part_plus_a_part_per_token() -> None:
    from training.fitting.budget import StepCost, StepTokens, steps_that_fit

    # Steps measured at 2 s + 0.01 s a token: short drills first, then long rows.
    tokens = [50, 50, 60, 300, 400, 350]
    cost = StepCost.of([2 + 0.01 * t for t in tokens], tokens)
    assert round(cost.per_step_s, 6) == 2 and round(cost.per_token_s, 6) == 0.01
    # Seconds per token alone would price a 400-token step at 16 s instead of 6 s.
    long_steps = StepTokens([400] * 100)
    assert steps_that_fit(budget_s=100, elapsed_s=40, cost=cost, done=6, planned=100, step_tokens=long_steps) == 16
    assert StepCost.of([3.0, 3.0], [100, 100]) == StepCost(0.0, 0.03)  # one length: per token, as before
    assert StepCost.of([5.0, 3.0], [100, 200]) == StepCost(4.0, 0.0)  # longer was faster: per step
    assert StepCost.of([1.0, 5.0], [100, 200]) == StepCost(0.0, 0.02)  # a fixed part below zero: per token


def test_extra_tokens_earn_their_time_up_to_the_allowance() -> None:
    from training.fitting.budget import StepCost, StepTokens, steps_that_fit

    cost = StepCost(0.0, 0.1)  # 10 s a step of 100 tokens
    plain = StepTokens([100] * 20)
    half = StepTokens([100] * 20, [50] * 20, extra_s=1000)  # half of every step is extra: 5 s of 10 earned
    assert steps_that_fit(budget_s=50, elapsed_s=0, cost=cost, done=0, planned=20, step_tokens=plain) == 5
    assert steps_that_fit(budget_s=50, elapsed_s=0, cost=cost, done=0, planned=20, step_tokens=half) == 10
    capped = StepTokens([100] * 20, [50] * 20, extra_s=20)  # at most 20 s more
    assert steps_that_fit(budget_s=50, elapsed_s=0, cost=cost, done=0, planned=20, step_tokens=capped) == 7
    assert capped.allowed_s(50, capped.earned_s(cost, 7)) == 70 and half.allowed_s(50, half.earned_s(cost, 10)) == 100
    # Drills first (all extra), then rows: the drills' time does not shorten the rows' budget.
    drills_first = StepTokens([100] * 20, [100] * 4 + [0] * 16, extra_s=1000)
    assert steps_that_fit(budget_s=50, elapsed_s=40, cost=cost, done=4, planned=20, step_tokens=drills_first) == 9
    assert steps_that_fit(budget_s=50, elapsed_s=40, cost=cost, done=4, planned=20, step_tokens=plain) == 5


def test_the_budget_plans_again_as_the_machine_speeds_up(monkeypatch) -> None:
    from types import SimpleNamespace

    from training.fitting import budget

    clock = [0.0]
    monkeypatch.setattr(budget.time, "perf_counter", lambda: clock[0])
    callback = budget.budget_callback(100 / 60, "cosine", 0.0, step_tokens=budget.StepTokens([100] * 1000))
    state, control = SimpleNamespace(global_step=0, max_steps=1000), SimpleNamespace(should_training_stop=False)
    callback.on_train_begin(None, state, control)
    while not control.should_training_stop:
        clock[0] += 2.0 if state.global_step < 16 else 1.0  # the first 16 steps are slow, the rest twice as fast
        state.global_step += 1
        callback.on_step_end(None, state, control)
    # Planned once at step 16 it would stop at 16 + 68 s / 2 s = 50 steps; planned again it uses the budget.
    assert callback.stopped and state.global_step == 84 and clock[0] <= 100
