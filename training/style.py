"""Style metrics of owner replies: does the model write like the owner (length, emoji, case, punctuation,
several messages in a row)? Pure functions over replies, each reply a list of Telegram messages."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from statistics import fmean

_EMOJI = re.compile(
    "[\U0001F300-\U0001FAFF\U00002600-\U000027BF\U0001F1E6-\U0001F1FF\U00002B00-\U00002BFF\U0000FE0F]"
)
_END_PUNCTUATION = (".", "!", "?", "…")

Reply = Sequence[str]


@dataclass(frozen=True, slots=True)
class StyleMetrics:
    """Averages over a set of replies; shares are 0..1."""

    replies: int
    mean_chars: float
    """Characters per reply (all its messages)."""
    mean_messages: float
    """Telegram messages per reply."""
    emoji_share: float
    """Replies with at least one emoji."""
    lowercase_share: float
    """Messages whose first letter is lowercase (of messages with letters)."""
    end_punctuation_share: float
    """Messages ending in . ! ? or …"""
    multi_message_share: float
    """Replies sent as several messages."""

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def has_emoji(text: str) -> bool:
    return _EMOJI.search(text) is not None


def _first_letter(text: str) -> str | None:
    return next((ch for ch in text if ch.isalpha()), None)


def _share(flags: Sequence[bool]) -> float:
    return fmean(flags) if flags else 0.0


def style_metrics(replies: Sequence[Reply]) -> StyleMetrics:
    """Style of a set of replies (empty replies count as zero-length single-message replies)."""
    messages = [m for reply in replies for m in reply]
    letters = [letter for m in messages if (letter := _first_letter(m)) is not None]
    return StyleMetrics(
        replies=len(replies),
        mean_chars=fmean([sum(len(m) for m in r) for r in replies]) if replies else 0.0,
        mean_messages=fmean([len(r) for r in replies]) if replies else 0.0,
        emoji_share=_share([any(has_emoji(m) for m in r) for r in replies]),
        lowercase_share=_share([letter.islower() for letter in letters]),
        end_punctuation_share=_share([m.rstrip().endswith(_END_PUNCTUATION) for m in messages if m.strip()]),
        multi_message_share=_share([len(r) > 1 for r in replies]),
    )


def compare_style(generated: Sequence[Reply], real: Sequence[Reply]) -> dict[str, dict[str, float]]:
    """Per metric: generated, real and their absolute difference (smaller = closer to the owner)."""
    gen, ref = style_metrics(generated).as_dict(), style_metrics(real).as_dict()
    return {
        name: {"generated": round(gen[name], 4), "real": round(ref[name], 4), "gap": round(abs(gen[name] - ref[name]), 4)}
        for name in gen
        if name != "replies"
    }
