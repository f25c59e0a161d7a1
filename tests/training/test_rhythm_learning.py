"""A persona that always answers with two messages: after a short whole-conversation training, the tiny
model prefers going on to a second message over closing the turn after the first, more than the base
does (a direction, not a tuned threshold)."""

from __future__ import annotations

from pathlib import Path

from model.dialogue import Dialogue, Turn
from model.prompt import PromptFormat
from training.config import load_preset
from training.data.sequences import Conversation, encode_conversations
from training.evaluation.perplexity import reply_nll
from training.fitting.fit import fit

QUESTIONS = ["hi! how are you?", "where are you?", "what time?", "did you see the photo?", "call me when you can"]
FIRSTS = ["ok", "sure", "lol", "on my way", "no problem"]
SECONDS = ["see you tomorrow at 10", "thanks a lot!", "good night", "👍", "call me"]


def _turns(n: int, shift: int) -> tuple[Turn, ...]:
    turns = []
    for i in range(n):
        k = (i + shift) % 5
        turns.append(Turn("partner", (QUESTIONS[k],)))
        turns.append(Turn("owner", (FIRSTS[k], SECONDS[(k + shift) % 5])))
    return tuple(turns)


def _continue_margin(model, tokenizer, fmt: PromptFormat, dialogues: list[Dialogue]) -> float:
    """Mean over contexts of log p(going on after the first message) - log p(closing the turn there):
    NLL(first message + end of turn) - NLL(first message + separator), the latter computed as
    NLL(two-message reply) - NLL(the second message's own tokens)."""
    margin = 0.0
    for dialogue in dialogues:
        *context, reply = dialogue.turns
        shown = Dialogue(tuple(context))
        two = fmt.encode_example(tokenizer, shown, reply.text)
        one = fmt.encode_example(tokenizer, shown, reply.messages[0])
        nll_two, _ = reply_nll(model, [two], tokenizer.eos_token_id)
        nll_one, _ = reply_nll(model, [one], tokenizer.eos_token_id)
        margin += (nll_one - nll_two) + _second_message_cost(model, tokenizer, fmt, shown, reply)
    return margin / len(dialogues)


def _second_message_cost(model, tokenizer, fmt: PromptFormat, shown: Dialogue, reply: Turn) -> float:
    """NLL of the second message's own tokens (after the separator), so the margin measures the
    continue-or-stop decision, not how well the second message's words were memorised."""
    first_and_sep = fmt.encode_example(tokenizer, shown, reply.messages[0] + "\n")
    whole = fmt.encode_example(tokenizer, shown, reply.text)
    cut = len(first_and_sep["input_ids"]) - 1  # without the end-of-turn token
    labels = [-100] * cut + whole["labels"][cut:]
    nll, _ = reply_nll(model, [{"input_ids": whole["input_ids"], "labels": labels}], tokenizer.eos_token_id)
    return nll


def test_a_two_message_persona_is_reproduced_better_than_the_base(tiny_model_dir: Path, tmp_path: Path) -> None:
    from model.sources import load_base

    model, tokenizer = load_base("tiny", tiny_model_dir.parent, for_training=True)
    fmt = PromptFormat.for_tokenizer(tokenizer)
    conversations = [Conversation(1, Dialogue(_turns(4, s))) for s in range(12)]
    heldout = [Dialogue(_turns(2, s)[:4]) for s in range(5)]
    rows, stats = encode_conversations(tokenizer, fmt, conversations, 256, 4)
    assert stats.labelled_turns == stats.owner_turns == 48

    base_margin = _continue_margin(model, tokenizer, fmt, heldout)
    config = load_preset("tiny").with_overrides(max_steps=40, learning_rate=0.01, save_steps=10**6)
    trained, _ = fit(model, tokenizer, rows, config, tmp_path / "ckpt")
    trained_margin = _continue_margin(trained, tokenizer, fmt, heldout)
    # the direction only (measured: base 0.05 nats, after 40 steps 0.34 nats in favour of continuing)
    assert trained_margin > base_margin, (base_margin, trained_margin)
