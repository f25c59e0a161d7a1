"""memory_recall: of the held-out owner turns whose real reply depends on a fact from earlier in the
chat, the share whose generated reply brings that fact back. Pure functions over plain data; no one
needs to have tagged the facts, so it works on real histories as on the generated one.

A held-out turn is *fact-dependent* when its real reply holds a fact word that
- is a content word: letters only, at least `MIN_LETTERS` long, not a stop word (`STOP_WORDS`);
- is rare in the whole history: at most `max(RARE_FLOOR, messages // RARE_PER_MESSAGES)` messages
  hold it (one in a thousand; at least 3). A word the owner uses often is in the model's weights
  already; a rare one — a dog's name, a café, a city — can only come from memory;
- does not occur in the turn's context window (what the model is shown as the dialogue), but
- does occur earlier in the same chat, before the turn's session began (another chat's history
  never counts: memory never crosses chats).
When several words qualify, the rarest is the turn's fact word (ties: alphabetical). A fact-dependent
turn is *recalled* when its generated reply holds that word. `FactHistory` holds what this needs of
a history (its words, each chat's session starts), built once from the messages the dataset build
read, and turns a held-out example into a `HeldOutTurn`.

Words are compared lowercased, `ё` as `е`, and a Cyrillic word without its inflection ending
(`RUSSIAN_ENDINGS`, longest first, the stem kept at three letters or more), so "Ригу" meets "Рига"
and "Барсика" meets "Барсик". This is a cheap suffix cut, not a lemmatiser: it merges a few
unrelated words with a shared stem and misses changes inside the stem. English words are only
lowercased.

Checked against the facts the generated history plants (`testdata.facts`), every owner turn of it
taken as held out: at 10,000 owner messages over 40 contacts and 6 months the fact-dependent turns
are exactly the 159 planted questions (precision and recall 1.0; 235 of 235 at 30,000 owner
messages). Histories with only a few thousand messages make some everyday words rare too: at 3,000
owner messages 60 of 66 planted questions are found and nothing else (recall 0.91), at 2,000 37 of
47 with 2 false finds (precision 0.95, recall 0.79). A threshold of one in 500 messages already takes everyday
words of the generated history for facts (precision about 0.5).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from model.dialogue import StoredMessage, Turn, split_sessions

MIN_LETTERS = 3
RARE_PER_MESSAGES = 1000
"""A word held by at most one message in this many (of the whole history) is rare."""
RARE_FLOOR = 3
"""In a small history, a word held by at most this many messages is rare anyway: a fact said once
and brought back once or twice."""

STOP_WORDS = frozenset("""
about after again all also and any are back been before being both but can could did
does doing done down each even ever every for from get gets getting going gone good got had
has have having her here hers him his how into its just know like made make many maybe
more most much must need never new next not now off okay once one only other our out over own really
same see she should since some still such sure than that the their them then there these they
this those through too under until very want was way well were what when where which while who whom
why will with would yeah yes yet you your yours
без был была были было быть вам вас ваш вот все всего всех где даже для его ему если есть еще
как кого когда кто куда ладно меня мне мной мое мой моя мы надо нам нас наш него нее нет ним них
ничего ну оба они оно очень под пока при про раз сам свой себе себя сейчас так там тебе тебя тоже только
тот три уже хорошо чем что чтобы эта эти это этот
""".split())
"""Function words and fillers, English and Russian: never a fact, however rare in a small history."""

RUSSIAN_ENDINGS = tuple(sorted("""
а я о е ы и у ю ь й ой ей ий ый ая яя ое ее ые ие ую юю ом ем ам ям ах ях ов ев ею ою ым им ых их
ами ями ого его ому ему ими ыми
""".split(), key=len, reverse=True))
"""Inflection endings cut from a Cyrillic word (nouns, adjectives), longest first."""

_WORD = re.compile(r"[^\W\d_]+")
_CYRILLIC = re.compile(r"[а-я]")


class DatedText(Protocol):
    """A stored message as the metric reads it (storage.MessageRow fits)."""

    date: int
    text: str


@dataclass(frozen=True, slots=True)
class HeldOutTurn:
    """An owner turn to answer: its chat, when its session began, the context window the model is
    shown (`Dialogue.turns`) and the owner's real reply."""

    chat_id: int
    session_start: int
    """The date of the session's first message: only what the chat said before it is "earlier"."""
    context: tuple[Turn, ...]
    reply: Turn


@dataclass(frozen=True, slots=True)
class FactDependentTurn:
    """A held-out turn whose real reply holds a fact from earlier in the chat."""

    index: int
    """Its position among the turns given."""
    word: str
    """The fact word, normalised (see the module docstring)."""
    recalled: bool = False
    """Whether the generated reply holds the word."""


@dataclass(frozen=True, slots=True)
class MemoryRecall:
    """The share of fact-dependent turns recalled (None when no turn depends on a fact), how many
    turns depend on one, and which."""

    recall: float | None
    fact_dependent: int
    turns: tuple[FactDependentTurn, ...]


@dataclass(frozen=True, slots=True)
class HistoryWords:
    """What the whole history says about each word: how many messages hold it, whether that is
    rare, and when each chat first used it. Build it once (`index_history`) per history."""

    messages_holding: Mapping[str, int]
    rare_limit: int
    first_used: Mapping[int, Mapping[str, int]]
    """chat id → word → the date of the chat's first message holding it."""

    def is_rare(self, word: str) -> bool:
        return self.messages_holding.get(word, 0) <= self.rare_limit


@dataclass(frozen=True, slots=True)
class FactHistory:
    """A whole history as the metric reads it, built once per dataset (`of`): its words, and when each
    chat's sessions began, so a held-out example is placed in its session (`held_out_turn`)."""

    words: HistoryWords
    session_starts: Mapping[int, Sequence[int]]
    """chat id → the date of each session's first message, ascending."""

    @classmethod
    def of(cls, chats: Mapping[int, Sequence[StoredMessage]], gap_seconds: int, keep_media: bool = True) -> FactHistory:
        """`chats` (chat id → its messages in time order, as the dataset build read them), cut into
        sessions by `model.dialogue.split_sessions` with the dataset's gap and media setting."""
        starts: dict[int, list[int]] = {}
        for chat_id, messages in chats.items():
            dates = {m.message_id: m.date for m in messages}  # a turn's own date is its last message's
            sessions = split_sessions(messages, gap_seconds, keep_media)
            starts[chat_id] = [dates.get(s[0].message_id, s[0].date) for s in sessions]
        return cls(index_history(chats), starts)

    def held_out_turn(self, chat_id: int, context: Sequence[Turn], reply: Turn) -> HeldOutTurn:
        """The owner's `reply` to `context` as a held-out turn, in the session it was said in (a chat
        the history does not hold: its context's first turn starts the session)."""
        starts = self.session_starts.get(chat_id, ())
        before = bisect_right(starts, reply.date)
        start = starts[before - 1] if before else (context[0].date if context else reply.date)
        return HeldOutTurn(chat_id, start, tuple(context), reply)


def normalise(word: str) -> str:
    """A word as the metric compares it: lowercased, `ё` as `е`, a Cyrillic word without its ending."""
    word = word.lower().replace("ё", "е")
    if _CYRILLIC.match(word):
        for ending in RUSSIAN_ENDINGS:
            if word.endswith(ending) and len(word) - len(ending) >= MIN_LETTERS:
                return word[: -len(ending)]
    return word


def content_words(text: str) -> set[str]:
    """The normalised content words of a text (letters only, long enough, not a stop word)."""
    return {normalise(w) for w in _WORD.findall(text)
            if len(w) >= MIN_LETTERS and w.lower().replace("ё", "е") not in STOP_WORDS}


def index_history(history: Mapping[int, Iterable[DatedText]]) -> HistoryWords:
    """Index a whole history (chat id → its messages, any order)."""
    holding: Counter[str] = Counter()
    first_used: dict[int, dict[str, int]] = {}
    messages = 0
    for chat_id, chat_messages in history.items():
        first = first_used.setdefault(chat_id, {})
        for message in chat_messages:
            messages += 1
            words = content_words(message.text)
            holding.update(words)
            for word in words:
                if message.date < first.get(word, message.date + 1):
                    first[word] = message.date
    return HistoryWords(holding, max(RARE_FLOOR, messages // RARE_PER_MESSAGES), first_used)


def fact_word(words: HistoryWords, turn: HeldOutTurn) -> str | None:
    """The turn's fact word, or None when its real reply depends on no fact from earlier in the chat."""
    in_window = set().union(*(content_words(t.text) for t in turn.context))
    earlier = words.first_used.get(turn.chat_id, {})
    candidates = [w for w in content_words(turn.reply.text)
                  if w not in in_window and earlier.get(w, turn.session_start) < turn.session_start
                  and words.is_rare(w)]
    return min(candidates, key=lambda w: (words.messages_holding[w], w), default=None)


def fact_dependent_turns(words: HistoryWords, turns: Sequence[HeldOutTurn]) -> tuple[FactDependentTurn, ...]:
    """The fact-dependent turns among `turns`, in order (not yet scored: `recalled` is False)."""
    found = ((i, fact_word(words, turn)) for i, turn in enumerate(turns))
    return tuple(FactDependentTurn(i, word) for i, word in found if word is not None)


def memory_recall(words: HistoryWords, turns: Sequence[HeldOutTurn], generated: Sequence[str]) -> MemoryRecall:
    """Score `generated` (one reply per turn, Telegram messages joined by line breaks) against the
    fact-dependent turns among `turns`."""
    if len(generated) != len(turns):
        raise ValueError(f"one generated reply per turn is needed: {len(generated)} replies for {len(turns)} turns")
    scored = tuple(FactDependentTurn(t.index, t.word, t.word in content_words(generated[t.index]))
                   for t in fact_dependent_turns(words, turns))
    recall = sum(t.recalled for t in scored) / len(scored) if scored else None
    return MemoryRecall(recall, len(scored), scored)
