"""The memory block of a prompt: earlier exchanges of the same chat (`Dialogue.memory`), rendered
for an adapter trained with memory (`PromptFormat.memory`).

Where it goes: right after the system text, in the prompt's head (inside the system message of
`chat_template` and `compact`, the lines after the system line in `plain`). The head is the same
for every turn of a training row that shares the memory, so the serve-time prompt stays a token
prefix of the row, and the block never moves as the conversation grows. Layout::

    Earlier in this chat:
    5 Mar
    Anna: are we still on for friday?
    Me: yes / 7pm at Luigi's
    12 Mar
    Anna: Max is at the vet again

Recollections oldest first, each under its date; one line per turn, the speaker's label first
(each speaker's name in groups, the owner's label for the owner), the turn's messages joined by
` / `. The frame is cheap: on SmolLM2's tokenizer the header costs 6 tokens, a date line 3, a turn
line 3 (`\\nAnna:`) and each further message of a turn 1; a typical memory of 3 recollections
(7 turns, 10 messages, 46 tokens of text) takes 87 tokens in all, 41 of them frame
(`tests/model/test_memory_prompt.py` holds the frame to that).

Dates are day and month in UTC with fixed English month names, never the machine's locale or
timezone, so training and serving render the same block anywhere. No year: the prompt carries no
"today", so a year would tell the model nothing the order does not, at 5 tokens a date on SmolLM2.

Memory text is cleaned, not escaped: each message is made one line (whitespace runs, line breaks
included, become one space) and every reserved text of the format (end of turn, turn headers,
turn opener, BOS, the tokenizer's special tokens) is removed, until none is left. So a recollection
can neither close the system message, nor open a turn, nor fake a line of the block. Escaping
would show the model a syntax it must learn to read; the removed texts are never words a reply
depends on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from model.dialogue import Recollection, Turn

MEMORY_HEADER = "Earlier in this chat:"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MESSAGE_JOIN = " / "


def render_memory(memory: Sequence[Recollection], label: Callable[[Turn], str], reserved: Sequence[str]) -> str:
    """The memory block (the module's layout), or "" when no recollection has text left to show:
    no block, not an empty header. `label` gives a turn's speaker label (the prompt's rule, one
    line, already clean); `reserved` are the texts memory must never carry."""
    lines: list[str] = []
    for recollection in memory:
        shown = [line for turn in recollection.turns if (line := _turn_line(turn, label, reserved))]
        if shown and recollection.date > 0:
            lines.append(short_date(recollection.date))
        lines.extend(shown)
    return "\n".join([MEMORY_HEADER, *lines]) if lines else ""


def clean_memory_text(text: str, reserved: Sequence[str]) -> str:
    """`text` on one line without any of the `reserved` texts. They go longest first
    (`<|im_start|>user` before `<|im_start|>`), and as removing one can join the halves of another
    (`<|im_<|im_end|>end|>`), until nothing changes."""
    markers = sorted({m for m in reserved if m}, key=len, reverse=True)
    while True:
        cleaned = text
        for marker in markers:
            cleaned = cleaned.replace(marker, " ")
        cleaned = " ".join(cleaned.split())
        if cleaned == text:
            return cleaned
        text = cleaned


def short_date(timestamp: int) -> str:
    """`5 Mar`: the day and month of a Unix time, in UTC."""
    day = datetime.fromtimestamp(timestamp, tz=UTC)
    return f"{day.day} {_MONTHS[day.month - 1]}"


def _turn_line(turn: Turn, label: Callable[[Turn], str], reserved: Sequence[str]) -> str:
    texts = (clean_memory_text(message, reserved) for message in turn.messages)
    text = _MESSAGE_JOIN.join(t for t in texts if t)
    return f"{label(turn)}: {text}" if text else ""
