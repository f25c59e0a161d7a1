"""The bundled sample (`samples/sample_export.json`, the demo's history): a small, curated export.

    python -m testdata.sample            # rewrites the bundled file (deterministic)

Alex (`testdata.conversations`) with four named people, a hiking group and a weather bot, written
with the same parts as the synthetic history (`testdata.exports`). Unlike that one it is fixed by
hand: it exercises what the importer must handle — a group and a bot chat, stickers, photos, voice
and video notes, a location, service messages, an edited message, a forward, replies, entity-list
texts, and a few phone numbers, e-mails and links (for redaction).
"""

from __future__ import annotations

import json
import random
from datetime import datetime
from typing import Any

from samples import SAMPLE_EXPORT
from testdata.conversations import (
    EN_EXCHANGES,
    OWNER,
    OWNER_NAME,
    OWNER_PROFILE,
    RU_EXCHANGES,
    START,
    WORK_EXCHANGES,
    dialogue_session,
    group_session,
    minutes,
    owner_reply,
)
from testdata.export_writer import ExportWriter, Sender, mark_edited

SEED = 20240301
DAYS = 120
MIA: Sender = ("Mia Torres", 5550101)
MOM: Sender = ("Мама", 5550102)
KOSTYA: Sender = ("Костя", 5550103)
DAN: Sender = ("Dan Kowalski", 5550104)
BOT: Sender = ("WeatherNowBot", 5550199)
HIKERS = [MIA, ("Sam Okafor", 5550105), ("Lena Berg", 5550106)]
BOT_PAIRS = [
    ("/weather", "Berlin: +14°C, light rain. Tomorrow: +17°C, cloudy."),
    ("/weather", "Berlin: +21°C, sunny. Tomorrow: +19°C, wind 5 m/s."),
    ("/forecast", "Next 3 days: 16°C / 18°C / 12°C, rain on Sunday."),
]


def build_sample(seed: int = SEED) -> dict[str, Any]:
    """The whole export as a dict (deterministic for a seed)."""
    rnd = random.Random(seed)

    def chat(sender: Sender, export_type: str = "personal_chat") -> dict[str, Any]:
        return {"name": sender[0], "type": export_type, "id": sender[1], "messages": []}

    mia, mom, kostya, dan, bot = chat(MIA), chat(MOM), chat(KOSTYA), chat(DAN), chat(BOT, "bot_chat")
    hikers = {"name": "Weekend Hikers", "type": "private_supergroup", "id": 1987654321, "messages": []}
    _dialogue_chat(rnd, mia, MIA, EN_EXCHANGES, 70, extras=True)
    _dialogue_chat(rnd, mom, MOM, RU_EXCHANGES, 60, extras=True)
    _dialogue_chat(rnd, kostya, KOSTYA, RU_EXCHANGES, 50, extras=True)
    _dialogue_chat(rnd, dan, DAN, WORK_EXCHANGES, 45, extras=False)
    _special_messages(rnd, mia, mom, dan)
    _group_chat(rnd, hikers)
    _bot_chat(rnd, bot)
    for c in (mia, mom, dan):
        _renumber_in_time_order(c)
    return {
        "about": "Here is the data you requested. Synthetic sample for tgtwin: every person in it is invented.",
        "personal_information": OWNER_PROFILE,
        "chats": {"about": "This page lists all chats from this export.",
                  "list": [mia, mom, kostya, dan, hikers, bot]},
    }


def _sessions(rnd: random.Random, count: int) -> list[datetime]:
    """Session start times over DAYS days, sorted; gaps between sessions are hours to days."""
    starts = set()
    while len(starts) < count:
        day = rnd.randrange(DAYS)
        hour = rnd.choice([8, 9, 12, 13, 18, 19, 20, 21, 22])
        starts.add(START.replace(hour=hour) + minutes(day * 24 * 60 + rnd.randrange(60)))
    return sorted(starts)


def _dialogue_chat(rnd: random.Random, chat: dict[str, Any], partner: Sender,
                   exchanges: list[tuple[list[str], list[str]]], sessions: int, extras: bool) -> None:
    w = ExportWriter(rnd, chat)
    for start in _sessions(rnd, sessions):
        dialogue_session(w, start, partner, exchanges, extras)


def _special_messages(rnd: random.Random, mia: dict[str, Any], mom: dict[str, Any], dan: dict[str, Any]) -> None:
    """The odd cases the importer and the redaction step must meet, at fixed points in time."""
    w = ExportWriter(rnd, mia)
    w.next_id = 50
    when = START.replace(day=15, hour=19)
    w.text(when, MIA, ["the trail i told you about: ", {"type": "link", "text": "https://example.org/trails/blue-lake"}])
    owner_reply(w, when + minutes(1), "looks great|saturday?")
    edited = w.text(when + minutes(4), OWNER, "btw my new number is +1 555 0100 222")
    mark_edited(edited, when + minutes(6))
    w.text(when + minutes(7), MIA, ["saved ", {"type": "bold", "text": "✔"}])
    w.media(when + minutes(8), OWNER, "location")
    w.media(when + minutes(30), MIA, "video_note")
    w = ExportWriter(rnd, mom)
    w.next_id = 60
    when = START.replace(day=20, hour=12)
    w.text(when, MOM, "запиши телефон тети Оли: 8 (900) 555-01-23", forwarded_from="Тетя Оля")
    w.text(when + minutes(3), OWNER, "записал 👍")
    w = ExportWriter(rnd, dan)
    w.next_id = 70
    when = START.replace(month=4, day=2, hour=10)
    w.text(when, DAN, ["send the report to ", {"type": "email", "text": "reports@example.com"}, " and cc me"])
    owner_reply(w, when + minutes(3), "done|also cc'd alex.novak@example.com")
    w.service(when + minutes(20), DAN, "pin_message", message_id=70)


def _renumber_in_time_order(chat: dict[str, Any]) -> None:
    """The special messages were written apart; sort and renumber so ids grow with time, as in Telegram."""
    messages = sorted(chat["messages"], key=lambda m: (int(m["date_unixtime"]), m["id"]))
    new_ids = {m["id"]: i for i, m in enumerate(messages, start=min(m["id"] for m in messages))}
    for message in messages:
        message["id"] = new_ids[message["id"]]
        for key in ("reply_to_message_id", "message_id"):
            if key in message:
                message[key] = new_ids[message[key]]
    chat["messages"] = messages


def _group_chat(rnd: random.Random, chat: dict[str, Any]) -> None:
    w = ExportWriter(rnd, chat)
    w.next_id = 1
    w.service(START, HIKERS[1], "create_group", title="Weekend Hikers",
              members=[HIKERS[1][0], MIA[0], OWNER_NAME, HIKERS[2][0]])
    for start in _sessions(rnd, 40):
        group_session(w, start, HIKERS)


def _bot_chat(rnd: random.Random, chat: dict[str, Any]) -> None:
    w = ExportWriter(rnd, chat)
    w.next_id = 1
    for start in _sessions(rnd, 15):
        command, answer = rnd.choice(BOT_PAIRS)
        w.text(start, OWNER, command)
        w.text(start + minutes(0.05), BOT, answer)


def main() -> None:
    export = build_sample()
    SAMPLE_EXPORT.write_text(json.dumps(export, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    messages = sum(len(c["messages"]) for c in export["chats"]["list"])
    print(f"{SAMPLE_EXPORT}: {len(export['chats']['list'])} chats, {messages} messages")


if __name__ == "__main__":
    main()
