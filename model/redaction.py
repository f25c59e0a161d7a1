"""PII redaction: replace phone numbers, e-mails, card numbers and links with typed placeholders.

The message itself is kept (the owner's wording is the point of training); only the PII goes.
Pure functions over strings.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Literal

PiiKind = Literal["email", "link", "card", "phone"]
PII_KINDS: tuple[PiiKind, ...] = ("email", "link", "card", "phone")

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_LINK = re.compile(
    r"(?:\b(?:https?://|www\.)\S+)"
    r"|(?:\b(?:t\.me|telegram\.me|wa\.me|vk\.com|youtu\.be)/\S+)"
    r"|(?:\b[\w-]+(?:\.[\w-]+)*\.(?:com|ru|org|net|io|me|dev|app|info|рф)(?:/\S*)?(?!\w))",
    re.IGNORECASE,
)
# Digit runs with optional single spaces/dashes between digits; classified by length and Luhn below.
_CARD = re.compile(r"(?<![\w+])\d(?:[ -]?\d){12,18}(?!\w)")
_PHONE = re.compile(r"(?<!\w)\+?\(?\d[\d\s().-]{7,}\d(?!\w)")


def placeholder(kind: PiiKind) -> str:
    return f"[{kind}]"


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _is_card(match: str) -> bool:
    digits = _digits(match)
    return 13 <= len(digits) <= 19 and _luhn_ok(digits)


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{2}\.\d{2}\.\d{2,4}")


def _is_phone(match: str) -> bool:
    # 10–15 digits: international and national formats, but not times, dates or short codes.
    return 10 <= len(_digits(match)) <= 15 and not _DATE.search(match)


_RULES: dict[PiiKind, tuple[re.Pattern[str], Callable[[str], bool] | None]] = {
    "email": (_EMAIL, None),
    "link": (_LINK, None),
    "card": (_CARD, _is_card),
    "phone": (_PHONE, _is_phone),
}


def redact(text: str, kinds: Iterable[PiiKind] = PII_KINDS) -> tuple[str, Counter[str]]:
    """Return the text with PII replaced by `[email]`, `[link]`, `[card]`, `[phone]`, and how many
    of each were replaced. E-mails go before links (a domain inside an address is not a link) and
    cards before phones (a long Luhn-valid digit run is a card)."""
    counts: Counter[str] = Counter()
    wanted = set(kinds)
    for kind in PII_KINDS:
        if kind not in wanted:
            continue
        pattern, accept = _RULES[kind]

        def substitute(match: re.Match[str], kind: PiiKind = kind, accept=accept) -> str:
            if accept is not None and not accept(match.group(0)):
                return match.group(0)
            counts[kind] += 1
            return placeholder(kind)

        text = pattern.sub(substitute, text)
    return text, counts


def contains_blocked(text: str, blocked_words: Iterable[str]) -> bool:
    """True if any blocked word/phrase occurs in the text as a whole word (case-insensitive)."""
    folded = text.casefold()
    for word in blocked_words:
        w = word.strip().casefold()
        if w and re.search(rf"(?<!\w){re.escape(w)}(?!\w)", folded):
            return True
    return False
