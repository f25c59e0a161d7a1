"""The owner's pace, learned from stored history: how long they take to answer, how fast they type,
how long they pause between the messages of one turn. Per chat, with a global fallback.

Pure: `learn_timing` reads plain `MessageRow`s (the I/O is `load_timing`). Measured on sessions as
training cuts them (`session_gap_seconds`), on the owner's own words only (bot-authored messages
are not the owner's pace):

- answer delay: from the partner's last message of a turn to the owner's first message after it
  (it includes reading and typing that first message);
- typing speed: characters of an owner message / seconds since the owner's previous message in
  the same turn;
- turn gap: seconds between consecutive owner messages of one turn.

With fewer than `MIN_SAMPLES` samples a quantity falls back to the global estimate, and without
enough global history to the documented defaults (`DEFAULT_*`, the pace tgtwin used before it
learned: 1 s + 8 characters per second). The pipeline samples from these, bounded by
`pace_min_seconds`/`pace_max_seconds`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from storage.rows import MessageRow

if TYPE_CHECKING:
    from storage import Database

MIN_SAMPLES = 5
DEFAULT_ANSWER_DELAY_SECONDS = 1.0
DEFAULT_CHARS_PER_SECOND = 8.0
DEFAULT_TURN_GAP_SECONDS = 1.0
# A pause shorter than this between two owner messages is a paste or a multi-send, not typing.
MIN_TYPING_GAP_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class Distribution:
    """Observed samples (sorted), or a single default when too few were observed."""

    samples: tuple[float, ...]
    learned: bool
    """False: the documented default (or the global fallback said so)."""

    @classmethod
    def of(cls, samples: Sequence[float], default: float) -> "Distribution":
        if len(samples) >= MIN_SAMPLES:
            return cls(tuple(sorted(samples)), True)
        return cls((default,), False)

    def quantile(self, q: float) -> float:
        """Nearest-rank quantile (q in [0, 1])."""
        index = min(len(self.samples) - 1, max(0, round(q * (len(self.samples) - 1))))
        return self.samples[index]

    @property
    def median(self) -> float:
        return self.quantile(0.5)

    @property
    def p90(self) -> float:
        return self.quantile(0.9)

    def sample(self, rng: random.Random) -> float:
        return rng.choice(self.samples)

    def summary(self) -> dict[str, float | int | bool]:
        return {"median": round(self.median, 3), "p90": round(self.p90, 3),
                "samples": len(self.samples) if self.learned else 0, "learned": self.learned}


@dataclass(frozen=True, slots=True)
class Timing:
    """The owner's pace in one chat (or globally)."""

    answer_delay_seconds: Distribution
    chars_per_second: Distribution
    turn_gap_seconds: Distribution

    def to_json(self) -> str:
        return json.dumps(self.summary(), ensure_ascii=False)

    def summary(self) -> dict[str, dict[str, float | int | bool]]:
        return {"answer_delay_seconds": self.answer_delay_seconds.summary(),
                "chars_per_second": self.chars_per_second.summary(),
                "turn_gap_seconds": self.turn_gap_seconds.summary()}


DEFAULT_TIMING = Timing(
    Distribution((DEFAULT_ANSWER_DELAY_SECONDS,), False),
    Distribution((DEFAULT_CHARS_PER_SECOND,), False),
    Distribution((DEFAULT_TURN_GAP_SECONDS,), False),
)


@dataclass(frozen=True, slots=True)
class _Samples:
    answer_delays: tuple[float, ...]
    chars_per_second: tuple[float, ...]
    turn_gaps: tuple[float, ...]


def _samples(history: Sequence[MessageRow], session_gap_seconds: float) -> _Samples:
    delays: list[float] = []
    speeds: list[float] = []
    gaps: list[float] = []
    previous: MessageRow | None = None
    for message in history:
        if previous is not None and 0 <= message.date - previous.date < session_gap_seconds:
            elapsed = float(message.date - previous.date)
            human = message.authored_by == "human" and previous.authored_by == "human"
            if message.outgoing and not previous.outgoing and message.authored_by == "human":
                delays.append(elapsed)
            elif message.outgoing and previous.outgoing and human:
                gaps.append(elapsed)
                if elapsed >= MIN_TYPING_GAP_SECONDS and message.text:
                    speeds.append(len(message.text) / elapsed)
        previous = message
    return _Samples(tuple(delays), tuple(speeds), tuple(gaps))


def _fallback(samples: Sequence[float], fallback: Distribution) -> Distribution:
    return Distribution(tuple(sorted(samples)), True) if len(samples) >= MIN_SAMPLES else fallback


def learn_timing(histories: Mapping[int, Sequence[MessageRow]], session_gap_seconds: float
                 ) -> tuple[Timing, dict[int, Timing]]:
    """(global timing, per-chat timing) from each chat's messages in time order. A chat's quantity
    with too few samples is the global one; a global one with too few, the default."""
    per_chat_samples = {chat_id: _samples(h, session_gap_seconds) for chat_id, h in histories.items()}
    everything = _Samples(*(tuple(x for s in per_chat_samples.values() for x in getattr(s, f))
                            for f in ("answer_delays", "chars_per_second", "turn_gaps")))
    global_timing = Timing(
        Distribution.of(everything.answer_delays, DEFAULT_ANSWER_DELAY_SECONDS),
        Distribution.of(everything.chars_per_second, DEFAULT_CHARS_PER_SECOND),
        Distribution.of(everything.turn_gaps, DEFAULT_TURN_GAP_SECONDS),
    )
    per_chat = {
        chat_id: Timing(_fallback(s.answer_delays, global_timing.answer_delay_seconds),
                        _fallback(s.chars_per_second, global_timing.chars_per_second),
                        _fallback(s.turn_gaps, global_timing.turn_gap_seconds))
        for chat_id, s in per_chat_samples.items()
    }
    return global_timing, per_chat


@dataclass(frozen=True, slots=True)
class Pace:
    """How long to wait before each message of a reply: sampled from a `Timing`, bounded."""

    timing: Timing
    min_seconds: float
    max_seconds: float

    def pause(self, text: str, *, first: bool, already_waited: float, rng: random.Random) -> float:
        """Seconds of "typing…" before sending `text`. The first message of a reply answers after
        the owner's answer delay (minus what the debounce and generation already took); each
        later one after the owner's gap between messages; none faster than the owner types it."""
        typing = len(text) / max(0.1, self.timing.chars_per_second.sample(rng))
        if first:
            wait = max(self.timing.answer_delay_seconds.sample(rng) - already_waited, typing)
        else:
            wait = max(self.timing.turn_gap_seconds.sample(rng), typing)
        return min(self.max_seconds, max(self.min_seconds, wait))


@dataclass(frozen=True, slots=True)
class TimingReport:
    """What `main.py timing [--chat ID] --json` prints: the learned pace (global or one chat's)."""

    chat_id: int | None
    timing: Timing

    def to_json(self) -> str:
        return json.dumps({"chat_id": self.chat_id, **self.timing.summary()}, ensure_ascii=False)


HISTORY_PER_CHAT = 2000  # the owner's recent pace is what matters; bounded work at start-up
CHATS_FOR_GLOBAL = 200


async def load_timing(db: "Database", session_gap_seconds: float, also_chat: int | None = None
                      ) -> tuple[Timing, dict[int, Timing]]:
    """`learn_timing` over the most recently active private chats' recent history (and `also_chat`)."""
    from storage import chats as chat_queries
    from storage import messages as message_queries

    chat_ids = [c.id for c in await chat_queries.list_chats(db, limit=CHATS_FOR_GLOBAL) if c.type == "private"]
    if also_chat is not None and also_chat not in chat_ids:
        chat_ids.append(also_chat)
    histories = {chat_id: await message_queries.recent_messages(db, chat_id, HISTORY_PER_CHAT) for chat_id in chat_ids}
    return learn_timing(histories, session_gap_seconds)


async def timing_report(db: "Database", session_gap_seconds: float, chat_id: int | None = None) -> TimingReport:
    """The learned pace, globally or for one chat (a chat without history gets the global pace)."""
    global_timing, per_chat = await load_timing(db, session_gap_seconds, chat_id)
    if chat_id is None:
        return TimingReport(None, global_timing)
    return TimingReport(chat_id, per_chat.get(chat_id, global_timing))

