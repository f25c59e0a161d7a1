"""Exchanges: what a search hit expands to, how overlapping ones merge, what they cost in tokens.

Pure functions over stored messages (storage.MessageRow fits `model.dialogue.StoredMessage`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import TypeVar

from model.dialogue import Recollection, StoredMessage, Turn, message_text, split_sessions
from model.redaction import contains_blocked, redact

M = TypeVar("M", bound=StoredMessage)

TokenCounter = Callable[[str], int]

TOKENS_PER_TURN = 4
"""What a turn costs beyond its text in the memory block (a role label, separators)."""


def estimate_tokens(text: str) -> int:
    """Tokens in `text`, estimated as one per two UTF-8 bytes, rounded up. Measured with the bundled
    SmolLM2 tokenizer on the sample chats' lines (testdata.conversations): English averages 3.4
    bytes a token, Russian 2.3 (Cyrillic letters are two bytes), so the estimate errs on the large
    side and a budget it allows fits; pass the model's tokenizer to `recall` for an exact count."""
    return -(-len(text.encode("utf-8")) // 2)


def session_turns(rows: Sequence[M], gap_seconds: int) -> list[list[tuple[Turn, tuple[M, ...]]]]:
    """`split_sessions` of `rows` (time order), each turn with the rows it was made of."""
    sessions = split_sessions(rows, gap_seconds)
    contributing = iter([r for r in rows if message_text(r) is not None])
    # split_sessions keeps every contributing message, in order, one text each.
    return [[(turn, tuple(next(contributing) for _ in turn.messages)) for turn in session] for session in sessions]


def exchange(rows: Sequence[M], hit_id: int, gap_seconds: int) -> tuple[M, ...]:
    """The exchange around message `hit_id` among `rows` (time order, one chat): the hit's turn and
    the adjacent turn of the other side in its session: the owner's answer after a partner's turn,
    the partner's turn an owner's turn answered; the other neighbour where that one is missing. In a
    group, another member's turn is not the other side. Empty if `hit_id` is not among the turns."""
    for session in session_turns(rows, gap_seconds):
        for index, (turn, members) in enumerate(session):
            if not any(m.message_id == hit_id for m in members):
                continue
            preferred = (index + 1, index - 1) if turn.role == "partner" else (index - 1, index + 1)
            for other in preferred:
                if 0 <= other < len(session) and session[other][0].role != turn.role:
                    pair = sorted((index, other))
                    return session[pair[0]][1] + session[pair[1]][1]
            return members
    return ()


def merge(exchanges: Iterable[Sequence[M]]) -> tuple[M, ...]:
    """Overlapping exchanges → one, in time order, each message once."""
    by_id = {m.message_id: m for ex in exchanges for m in ex}
    return tuple(sorted(by_id.values(), key=lambda m: (m.date, m.message_id)))


def recollection(rows: Sequence[M], gap_seconds: int, redact_pii: bool) -> Recollection:
    """An exchange's rows → the Recollection the prompt shows: its turns (PII redacted like
    training data when `redact_pii`) and every message id it holds."""
    turns = [turn for session in session_turns(rows, gap_seconds) for turn, _ in session]
    if redact_pii:
        turns = [replace(t, messages=tuple(redact(text)[0] for text in t.messages)) for t in turns]
    return Recollection(tuple(turns), tuple(m.message_id for m in rows), rows[0].date if rows else 0)


def blocked(memory: Recollection, blocked_words: Sequence[str]) -> bool:
    """Whether a recollection holds a blocked word (training drops such examples; memory drops it)."""
    return bool(blocked_words) and any(contains_blocked(t.text, blocked_words) for t in memory.turns)


def cost(memory: Recollection, count_tokens: TokenCounter = estimate_tokens) -> int:
    """Tokens a recollection takes in the prompt: its texts plus `TOKENS_PER_TURN` a turn."""
    return sum(count_tokens(t.text) + TOKENS_PER_TURN for t in memory.turns)
