"""Recurring facts in the synthetic history: a pet's, a friend's or a baby's name, a plan (a day and
a place), a trip (a city) — said in one session of a private chat and asked about days later in
another, where Alex's answer holds the fact ("how is your dog doing?" → "rex is fine|sleeping all
the time"). What memory must bring back from outside the context window, and what
`training.evaluation.memory_recall` measures.

`ChatFacts` plants one chat's facts while `testdata.exports` writes the chat's sessions in time
order: a session given a fact exchange asks about the oldest fact stated at least `ASK_AFTER`
before, in an earlier session, when the chat was silent for `SESSION_GAP` before this one (so the
question opens a new session for the importer's sessionisation too); otherwise it states a new
fact. A chat states one fact of each kind at most (one dog, one trip, one dinner plan): a second
dog days later would make "how's the dog?" ask about either. Half the facts are told by the partner,
half by Alex; each chat draws its own words from the pools of `testdata.fact_lines`, never one
twice, so facts differ from chat to chat (two chats share a word only by chance) and a word is new
in its chat where it is stated. Every fact exchange is
three messages (the partner's line, Alex's two), whatever it says, so the exports' first pass can
count a session's messages before anything is known about its facts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from model.dialogue import Role
from testdata.conversations import minutes, owner_reply
from testdata.export_writer import ExportWriter, Sender
from testdata.fact_lines import FactKind, FactLanguage, Line

ASK_AFTER = timedelta(days=1)
"""A fact is asked about at least this long after the session that stated it ended."""
SESSION_GAP = timedelta(minutes=180)
"""The product's default session gap (`session_gap_minutes`): a question comes only after at least
this much silence in the chat, so it never shares a session with what came before."""
COUNTING_LINE: Line = ("…", "…|…")
"""What the exports' first pass writes for a fact exchange: only the shape counts there."""


@dataclass(frozen=True, slots=True)
class PlantedFact:
    """A fact as written into one chat: where it was stated and, if it was, where it was asked about
    and answered. Ids are the chat's message ids in the export; dates unix seconds."""

    chat_id: int
    kind: str
    word: str
    """The fact's word as the pool spells it (Alex writes it lowercase)."""
    stated_by: Role
    stated_in: tuple[int, ...]
    """The messages of the turn that states the fact (the partner's line or Alex's reply)."""
    stated_date: int
    asked_in: int | None = None
    """The partner's message that asks about it, days later (None: never asked)."""
    answered_in: tuple[int, ...] = ()
    """Alex's answer holding the fact: the owner turn whose reply needs memory."""
    asked_date: int | None = None


@dataclass(slots=True)
class _Stated:
    index: int
    """Where the fact is in `ChatFacts.planted`."""
    kind: FactKind
    day: str
    session_end: datetime | None = None


class ChatFacts:
    """One private chat's facts, planted session by session in time order (`write`, then
    `session_ended` after every session of the chat); `planted` lists them in the order stated."""

    def __init__(self, chat_id: int, language: FactLanguage, rnd: random.Random) -> None:
        self.chat_id = chat_id
        self.language = language
        self.rnd = rnd
        self.planted: list[PlantedFact] = []
        self._open: list[_Stated] = []
        self._words_left: dict[tuple[str, ...], list[str]] = {}
        self._last_end: datetime | None = None

    def write(self, w: ExportWriter, when: datetime, partner: Sender, session_start: datetime) -> datetime:
        """Write this session's fact exchange from `when`: the question about the oldest fact that
        may be asked now, else a new fact. Returns when Alex's answer ended."""
        due = self._due(session_start)
        if due is not None:
            return self._ask(w, when, partner, due)
        return self._state(w, when, partner)

    def session_ended(self, end: datetime) -> None:
        """The chat's current session ended at `end` (its last message)."""
        for stated in self._open:
            if stated.session_end is None:
                stated.session_end = end
        self._last_end = end

    def _due(self, session_start: datetime) -> _Stated | None:
        if self._last_end is None or session_start - self._last_end < SESSION_GAP:
            return None
        return next((s for s in self._open
                     if s.session_end is not None and session_start - s.session_end >= ASK_AFTER), None)

    def _ask(self, w: ExportWriter, when: datetime, partner: Sender, stated: _Stated) -> datetime:
        fact, kind = self.planted[stated.index], stated.kind
        lines = kind.asked_after_partner if fact.stated_by == "partner" else kind.asked_after_owner
        asked, answer, end = _exchange(w, when, partner, self.rnd.choice(lines), fact.word, stated.day)
        self._open.remove(stated)
        self.planted[stated.index] = replace(fact, asked_in=asked["id"], answered_in=tuple(m["id"] for m in answer),
                                             asked_date=int(asked["date_unixtime"]))
        return end

    def _state(self, w: ExportWriter, when: datetime, partner: Sender) -> datetime:
        """A new fact of a kind the chat has not stated yet; once it has stated every kind, small talk
        of the same shape."""
        stated = {fact.kind for fact in self.planted}
        left = [k for k in self.language.kinds if k.name not in stated and self._unused(k.pool)]
        if not left:
            return write_fact_line(w, when, partner, self.language.small_talk)
        kind = self.rnd.choice(left)
        word, day = self._unused(kind.pool).pop(), self.rnd.choice(self.language.days)
        stated_by: Role = self.rnd.choice(["partner", "owner"])
        lines = kind.told_by_partner if stated_by == "partner" else kind.told_by_owner
        line, answer, end = _exchange(w, when, partner, self.rnd.choice(lines), word, day)
        stating = [line] if stated_by == "partner" else answer
        fact = PlantedFact(self.chat_id, kind.name, word, stated_by, tuple(m["id"] for m in stating),
                           int(stating[0]["date_unixtime"]))
        self._open.append(_Stated(len(self.planted), kind, day))
        self.planted.append(fact)
        return end

    def _unused(self, pool: tuple[str, ...]) -> list[str]:
        """The words of `pool` this chat has not used yet, in the chat's own shuffled order: a word
        is never a fact twice in one chat (it would be "earlier in the chat" where it is new)."""
        if pool not in self._words_left:
            self._words_left[pool] = self.rnd.sample(pool, len(pool))
        return self._words_left[pool]


def write_fact_line(w: ExportWriter, when: datetime, partner: Sender, line: Line) -> datetime:
    """Write a fact exchange's shape with `line` as it is, no fact in it (the exports' first pass
    counts with `COUNTING_LINE`). Returns when Alex's answer ended."""
    return _exchange(w, when, partner, line, "", "")[2]


def _exchange(w: ExportWriter, when: datetime, partner: Sender, line: Line, word: str,
              day: str) -> tuple[dict[str, Any], list[dict[str, Any]], datetime]:
    """The partner's line at `when` and Alex's two-message reply a few minutes later, the timing
    drawn from the session's generator (the same draws whatever the words)."""
    said, reply = line
    asked = w.text(when, partner, said.format(word=word, day=day))
    first = len(w.chat["messages"])
    end = owner_reply(w, when + minutes(w.rnd.uniform(0.3, 8)), reply.format(word=word.lower(), day=day))
    return asked, w.chat["messages"][first:], end
