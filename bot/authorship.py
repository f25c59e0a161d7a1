"""Who wrote an outgoing message: the one rule for "the owner sent the bot's draft unchanged".

A draft is stored as the model's messages joined by `model.dialogue.MESSAGE_SEPARATOR`; the owner
sends it either from the panel (the same messages) or from Telegram's input box (one message, the
parts joined by newlines). Both count as unchanged when the words are the same: whitespace and line
breaks do not make an edit. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence

from model.dialogue import split_reply


def _words(text: str) -> list[str]:
    return text.split()


def is_unchanged_draft(draft_text: str, sent: Sequence[str]) -> bool:
    """True if the sent message(s) carry exactly the draft's words, in order."""
    draft_words = [w for part in split_reply(draft_text) for w in _words(part)]
    sent_words = [w for text in sent for w in _words(text)]
    return bool(draft_words) and draft_words == sent_words
