"""The synthetic Telegram Desktop full-account export: one builder, sized by an `ExportSpec`, for the
tests and every benchmark that needs a history (import, dataset, continual training).

    python -m testdata.exports --owner-messages 10000 --contacts 40 --months 6 --out data/history.json
    python -m testdata.exports --messages 200000 --contacts 6 --groups 2 --out /tmp/result.json

Alex (see `testdata.conversations`) talks with `contacts` invented people — a few write often, most
rarely — and, with `groups`, in a few group chats, over `months` months, until the export holds the
size asked for. Besides text there are stickers, photos, voice messages, calls, replies, links as
entity lists and edited messages, as in real exports, and recurring facts (`testdata.facts`): a
name, a plan or a trip said in one session and asked about days later in another, the facts
planted listed in the `ExportSummary`. The same spec always writes the same file.

The file is written chat by chat as it is generated (a million messages never sit in memory).
Every session draws from its own random generator and its content does not depend on its date, so
a first pass counts sessions until the export reaches its size, their dates are then spread over
the months, and a second pass writes each chat's sessions in time order.
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import accumulate
from pathlib import Path
from typing import IO, Any

from samples import SAMPLE_EXPORT
from testdata.conversations import (
    FIRST_NAMES,
    LANGUAGES,
    LAST_NAMES,
    LINKS,
    OWNER,
    OWNER_ID,
    OWNER_PROFILE,
    START,
    dialogue_session,
    group_session,
    minutes,
)
from testdata.export_writer import ExportWriter, Sender, mark_edited
from testdata.fact_lines import ENGLISH, RUSSIAN, FactLanguage
from testdata.facts import COUNTING_LINE, ChatFacts, PlantedFact, write_fact_line

SEED = 20240301
FIRST_CONTACT_ID = 5551000
FIRST_GROUP_ID = 1987700000
GROUP_MEMBERS = 3
SESSION_GAP_MINUTES = 5
"""A chat's next session starts at least this long after the last one ended."""
FACT_SHARE = 0.4
"""Share of private-chat sessions that open with a fact exchange (`testdata.facts`): a new fact,
or a question about one stated at least a day before."""
FACT_LANGUAGES = [ENGLISH, RUSSIAN, ENGLISH, ENGLISH]
"""The facts' language for each of `LANGUAGES` (work chats talk about plans and pets in English too)."""


@dataclass(frozen=True, slots=True)
class ExportSpec:
    """What a synthetic export holds. Give `owner_messages`, `messages` or both: generation stops at
    the end of the first session that reaches either."""

    owner_messages: int | None = None
    """Stop once Alex has written at least this many messages."""
    messages: int | None = None
    """Stop once the export holds at least this many messages (service messages included)."""
    contacts: int = 40
    """Private chats. Contact i gets a share of the sessions proportional to 1/(i+1), like real
    histories: a few close contacts, a long tail."""
    groups: int = 0
    """Group chats (Alex and three contacts); group g is as busy as contact g+1."""
    months: int = 6
    """The span the sessions fall in, from 2024-03-01."""
    seed: int = SEED

    def __post_init__(self) -> None:
        if self.owner_messages is None and self.messages is None:
            raise ValueError("an export needs a size: owner_messages or messages")
        for name in ("owner_messages", "messages"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, not {value}")
        if self.contacts < 1 or self.months < 1 or self.groups < 0:
            raise ValueError(f"contacts and months must be at least 1 and groups at least 0, not "
                             f"{self.contacts}, {self.months} and {self.groups}")

    def reached(self, messages: int, owner_messages: int) -> bool:
        """Whether an export holding this many messages (of them Alex's) is big enough."""
        return ((self.messages is not None and messages >= self.messages)
                or (self.owner_messages is not None and owner_messages >= self.owner_messages))


@dataclass(frozen=True, slots=True)
class ExportSummary:
    """What `write_export` wrote."""

    chats: int
    messages: int
    owner_messages: int
    facts: tuple[PlantedFact, ...] = ()
    """The recurring facts planted, chat by chat, each in the order it was stated."""


@dataclass(frozen=True, slots=True)
class _Chat:
    name: str
    export_type: str
    export_id: int
    members: tuple[Sender, ...]
    """The partner of a private chat; the members other than Alex of a group."""
    language: list[tuple[list[str], list[str]]]
    facts: FactLanguage | None = None
    """The language of the chat's recurring facts (None: a group, which has none)."""


def write_export(path: Path, spec: ExportSpec) -> ExportSummary:
    """Write the export `spec` describes to `path` (parents created); chats without a session are
    left out, as Telegram Desktop does."""
    chats = _chats(spec)
    dated: dict[int, list[tuple[int, int]]] = {}
    for index, chat_number, minute in _dated_sessions(spec, _session_chats(spec, chats)):
        dated.setdefault(chat_number, []).append((index, minute))
    path.parent.mkdir(parents=True, exist_ok=True)
    written, total, own = 0, 0, 0
    planted: list[PlantedFact] = []
    with path.open("w", encoding="utf-8") as out:
        about = f"Synthetic history for tgtwin: {spec.contacts} invented contacts, {spec.months} months."
        out.write('{\n "about": ' + json.dumps(about) + ",\n")
        out.write(' "personal_information": ' + json.dumps(OWNER_PROFILE, ensure_ascii=False) + ",\n")
        out.write(' "chats": {\n  "about": "This page lists all chats from this export.",\n  "list": [')
        for number, chat in enumerate(chats):
            dates = dated.get(number)
            if not dates:
                continue
            out.write(",\n" if written else "\n")
            header = {"name": chat.name, "type": chat.export_type, "id": chat.export_id}
            out.write("   " + json.dumps(header, ensure_ascii=False)[:-1] + ', "messages": [')
            facts = None if chat.facts is None else ChatFacts(
                chat.export_id, chat.facts, random.Random(f"{spec.seed}/facts/{chat.export_id}"))
            messages, by_owner = _write_chat(out, spec, chat, dates, facts)
            out.write("\n   ]}")
            written, total, own = written + 1, total + messages, own + by_owner
            planted += facts.planted if facts else []
        out.write("\n  ]\n }\n}\n")
    return ExportSummary(chats=written, messages=total, owner_messages=own, facts=tuple(planted))


def _chats(spec: ExportSpec) -> list[_Chat]:
    contacts = []
    for i in range(spec.contacts):
        name = f"{FIRST_NAMES[i % len(FIRST_NAMES)]} {LAST_NAMES[(i // len(FIRST_NAMES) + i) % len(LAST_NAMES)]}"
        contacts.append(_Chat(name, "personal_chat", FIRST_CONTACT_ID + i, ((name, FIRST_CONTACT_ID + i),),
                              LANGUAGES[i % len(LANGUAGES)], FACT_LANGUAGES[i % len(LANGUAGES)]))
    groups = []
    for g in range(spec.groups):
        members = dict.fromkeys(contacts[(g + k) % spec.contacts].members[0] for k in range(GROUP_MEMBERS))
        groups.append(_Chat(f"Group {g + 1}", "private_supergroup", FIRST_GROUP_ID + g, tuple(members), LANGUAGES[0]))
    return contacts + groups


def _session_chats(spec: ExportSpec, chats: list[_Chat]) -> list[int]:
    """The first pass: which chat each session is in, up to the session that reaches the size."""
    rnd = random.Random(spec.seed)
    weights = [1 / (i + 1) for i in range(spec.contacts)] + [1 / (g + 2) for g in range(spec.groups)]
    cumulative = list(accumulate(weights))
    picked: list[int] = []
    total = own = 0
    while not spec.reached(total, own):
        chat = rnd.choices(range(len(chats)), cum_weights=cumulative)[0]
        messages = _session_messages(spec, chats[chat], len(picked), START, first_id=1, facts=None)
        picked.append(chat)
        total, own = total + len(messages), own + sum(map(_by_owner, messages))
    return picked


def _dated_sessions(spec: ExportSpec, chats: list[int]) -> list[tuple[int, int, int]]:
    """(session, chat, minutes after the start): dates spread over the months, in session order."""
    rnd = random.Random(f"{spec.seed}/dates")
    minutes_in = sorted(rnd.randrange(spec.months * 30 * 24 * 60) for _ in chats)
    return [(index, chat, minute) for index, (chat, minute) in enumerate(zip(chats, minutes_in, strict=True))]


def _write_chat(out: IO[str], spec: ExportSpec, chat: _Chat, dates: list[tuple[int, int]],
                facts: ChatFacts | None) -> tuple[int, int]:
    """One chat's sessions in time order, streamed; a session starts after the previous one ended.
    Returns (messages, Alex's messages)."""
    total = own = 0
    free_from = START
    for index, minute in dates:
        messages = _session_messages(spec, chat, index, max(START + minutes(minute), free_from), total + 1, facts)
        out.write(",\n" if total else "\n")
        out.write(",\n".join("    " + json.dumps(message, ensure_ascii=False) for message in messages))
        total, own = total + len(messages), own + sum(map(_by_owner, messages))
        end = datetime.fromtimestamp(int(messages[-1]["date_unixtime"]), UTC)
        if facts:
            facts.session_ended(end)
        free_from = end + minutes(SESSION_GAP_MINUTES)
    return total, own


def _session_messages(spec: ExportSpec, chat: _Chat, index: int, start: datetime, first_id: int,
                      facts: ChatFacts | None) -> list[dict[str, Any]]:
    """Session `index` of `chat` from `start`, its messages numbered from `first_id`, drawn from the
    session's own generator: how many messages it holds and when they are sent do not depend on
    `start`, `first_id` or `facts` (which only fill in a fact exchange's words; None: the first
    pass, which counts)."""
    rnd = random.Random(f"{spec.seed}/{index}")
    writer = ExportWriter(rnd, {"messages": []}, first_id=first_id)
    if chat.export_type != "personal_chat":
        group_session(writer, start, list(chat.members))
        return writer.chat["messages"]
    partner = chat.members[0]
    if rnd.random() < 0.1:  # a link shared first: an entity list, like in real exports
        writer.text(start, partner, ["look: ", {"type": "link", "text": rnd.choice(LINKS)}])
    talk_from = start + minutes(1)
    if chat.facts is not None and rnd.random() < FACT_SHARE:
        talk_from = (facts.write(writer, talk_from, partner, start) if facts
                     else write_fact_line(writer, talk_from, partner, COUNTING_LINE))
    end = dialogue_session(writer, talk_from, partner, chat.language, extras=True)
    mine = [m for m in writer.chat["messages"] if _by_owner(m) and m["text"]]
    if mine and rnd.random() < 0.05:  # Alex fixes a typo in his last message
        mark_edited(mine[-1], end + minutes(2))
    return writer.chat["messages"]


def _by_owner(message: dict[str, Any]) -> bool:
    return message.get("from_id") == f"user{OWNER_ID}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m testdata.exports", description=__doc__.split("\n\n")[0])
    parser.add_argument("--owner-messages", type=int, help="Stop once the owner wrote this many messages.")
    parser.add_argument("--messages", type=int, help="Stop once the export holds this many messages.")
    parser.add_argument("--contacts", type=int, default=40, help="Private chats (default 40).")
    parser.add_argument("--groups", type=int, default=0, help="Group chats (default 0).")
    parser.add_argument("--months", type=int, default=6, help="Months the history spans (default 6).")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out", type=Path, required=True, help="Where to write the export.")
    args = parser.parse_args(argv)
    try:
        spec = ExportSpec(owner_messages=args.owner_messages, messages=args.messages, contacts=args.contacts,
                          groups=args.groups, months=args.months, seed=args.seed)
    except ValueError as exc:
        parser.error(str(exc))
    if args.out.resolve() == SAMPLE_EXPORT.resolve():
        parser.error(f"{SAMPLE_EXPORT.name} is the bundled sample (python -m testdata.sample); write elsewhere")
    summary = write_export(args.out, spec)
    asked = sum(fact.asked_in is not None for fact in summary.facts)
    print(f"{args.out}: {summary.chats} chats, {summary.messages:,} messages, {summary.owner_messages:,} by "
          f"{OWNER[0]}, {len(summary.facts):,} recurring facts ({asked:,} asked about days later)")


if __name__ == "__main__":
    main()
