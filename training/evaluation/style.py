"""Style metrics of owner replies: does the model write like the owner? Pure functions over replies,
each reply a list of Telegram messages.

Every metric is computed the same way for the owner's real held-out replies and for the generated
ones; `compare_style` puts them side by side and `style_distance` folds them into one number: the
mean symmetric relative difference `|g - r| / max(|g|, |r|)` over the metrics (0 = the same style,
1 = nothing in common; a metric that is 0 on both sides counts as 0).

Definitions (message = one Telegram message, reply = one owner turn):
- lengths: characters and words per reply (all its messages), messages per reply;
- `lowercase_share`: messages whose first letter is lowercase (of messages with a letter);
- `end_*_share`: how each non-empty message ends — `)` (also `))`), `.` (also `…`), `!`, `?`,
  an emoji, or `none` (a letter, digit or anything else);
- `emoji_share`: replies with at least one emoji; `multi_message_share`: replies of several messages;
- `top_words_share`: words of the replies that are among the owner's 50 most frequent training words;
- `invented_share`: replies with a word never seen in the training corpus (owner's and partners'
  texts) — honest about what it is: "unseen", which real held-out replies also score above 0;
- `echo_share`, `marker_share`: replies the candidate filters would drop (see `model.candidates`);
- `language_match_share`: replies whose dominant script (Cyrillic, Latin, other) is that of the
  partner's last turn, among replies where both have letters (1.0 when none has).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from statistics import fmean
from typing import Any

from model.candidates import has_markers, is_echo

_EMOJI = re.compile(
    "[\U0001F300-\U0001FAFF\U00002600-\U000027BF\U0001F1E6-\U0001F1FF\U00002B00-\U00002BFF\U0000FE0F]"
)
_WORD = re.compile(r"[^\W\d_]+")
TOP_WORDS = 50
ENDINGS = ("paren", "period", "exclamation", "question", "emoji", "none")

Reply = Sequence[str]


@dataclass(frozen=True, slots=True)
class ReplyContext:
    """What a reply is judged against: the partner's last turn and the texts no reply may contain."""

    partner_messages: tuple[str, ...] = ()
    markers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Lexicon:
    """The training corpus's vocabulary (lowercased words) and the owner's most frequent words."""

    vocabulary: frozenset[str]
    top_words: frozenset[str]

    @classmethod
    def from_texts(cls, owner_texts: Iterable[str], partner_texts: Iterable[str], top: int = TOP_WORDS) -> Lexicon:
        owner_counts = Counter(w for text in owner_texts for w in words(text))
        partner_words = {w for text in partner_texts for w in words(text)}
        ranked = sorted(owner_counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
        return cls(frozenset(owner_counts) | frozenset(partner_words), frozenset(w for w, _ in ranked))


def words(text: str) -> list[str]:
    """Lowercased letter runs (digits and punctuation are not words)."""
    return [w.lower() for w in _WORD.findall(text)]


def has_emoji(text: str) -> bool:
    return _EMOJI.search(text) is not None


def ending(message: str) -> str:
    """How a message ends: one of `ENDINGS`."""
    text = message.rstrip()
    while text and text[-1] == "\uFE0F":  # variation selector after an emoji
        text = text[:-1]
    if not text:
        return "none"
    last = text[-1]
    if last == ")":
        return "paren"
    if last in ".…":
        return "period"
    if last == "!":
        return "exclamation"
    if last == "?":
        return "question"
    return "emoji" if has_emoji(last) else "none"


def script(text: str) -> str | None:
    """The dominant script of a text's letters: `cyrillic`, `latin`, `other`, or None without letters."""
    counts: Counter[str] = Counter()
    for ch in text:
        if ch.isalpha():
            name = unicodedata.name(ch, "")
            counts["cyrillic" if "CYRILLIC" in name else "latin" if "LATIN" in name else "other"] += 1
    return max(sorted(counts), key=lambda k: counts[k]) if counts else None


def _first_letter(text: str) -> str | None:
    return next((ch for ch in text if ch.isalpha()), None)


def _share(flags: Sequence[bool]) -> float:
    return fmean(flags) if flags else 0.0


def style_metrics(replies: Sequence[Reply], contexts: Sequence[ReplyContext], lexicon: Lexicon) -> dict[str, float]:
    """Every metric of a set of replies (`contexts[i]` belongs to `replies[i]`). Empty replies count
    as zero-length one-message replies."""
    if len(replies) != len(contexts):
        raise ValueError("one context per reply is required")
    messages = [m for reply in replies for m in reply if m.strip()]
    letters = [letter for m in messages if (letter := _first_letter(m)) is not None]
    reply_words = [[w for m in r for w in words(m)] for r in replies]
    all_words = [w for ws in reply_words for w in ws]
    ends = Counter(ending(m) for m in messages)
    scripts = [(script(" ".join(r)), script(" ".join(c.partner_messages)))
               for r, c in zip(replies, contexts, strict=True)]
    judged = [(a, b) for a, b in scripts if a is not None and b is not None]
    metrics = {
        "mean_chars": fmean([sum(len(m) for m in r) for r in replies]) if replies else 0.0,
        "mean_words": fmean([len(ws) for ws in reply_words]) if replies else 0.0,
        "mean_messages": fmean([max(1, len(r)) for r in replies]) if replies else 0.0,
        "lowercase_share": _share([letter.islower() for letter in letters]),
        **{f"end_{name}_share": ends[name] / len(messages) if messages else 0.0 for name in ENDINGS},
        "emoji_share": _share([any(has_emoji(m) for m in r) for r in replies]),
        "multi_message_share": _share([len(r) > 1 for r in replies]),
        "top_words_share": _share([w in lexicon.top_words for w in all_words]),
        "invented_share": _share([any(w not in lexicon.vocabulary for w in ws) for ws in reply_words]),
        "echo_share": _share([is_echo(r, c.partner_messages) for r, c in zip(replies, contexts, strict=True)]),
        "marker_share": _share([has_markers(r, c.markers) for r, c in zip(replies, contexts, strict=True)]),
        "language_match_share": _share([a == b for a, b in judged]) if judged else 1.0,
    }
    return metrics


def relative_difference(generated: float, real: float) -> float:
    """`|g - r| / max(|g|, |r|)`: 0 when equal (also both 0), 1 when one side is 0 and the other is not."""
    scale = max(abs(generated), abs(real))
    return abs(generated - real) / scale if scale else 0.0


@dataclass(frozen=True, slots=True)
class StyleReport:
    """Generated vs real per metric, and their mean relative difference."""

    generated: dict[str, float]
    real: dict[str, float]
    style_distance: float

    def to_json(self) -> dict[str, dict[str, float]]:
        """`{metric: {generated, real, gap}}` (the panel's Training tab plots this shape)."""
        return {
            name: {"generated": round(self.generated[name], 4), "real": round(self.real[name], 4),
                   "gap": round(abs(self.generated[name] - self.real[name]), 4)}
            for name in self.generated
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], style_distance: float) -> StyleReport:
        return cls({k: float(v["generated"]) for k, v in data.items()}, {k: float(v["real"]) for k, v in data.items()},
                   style_distance)


def compare_style(generated: Sequence[Reply], real: Sequence[Reply], contexts: Sequence[ReplyContext],
                  lexicon: Lexicon) -> StyleReport:
    gen, ref = style_metrics(generated, contexts, lexicon), style_metrics(real, contexts, lexicon)
    return StyleReport(gen, ref, style_distance(gen, ref))


def style_distance(generated: dict[str, float], real: dict[str, float]) -> float:
    """Mean relative difference over the metrics both sides have."""
    names = [n for n in generated if n in real]
    return round(fmean(relative_difference(generated[n], real[n]) for n in names), 4) if names else 0.0
