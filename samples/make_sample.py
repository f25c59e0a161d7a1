"""Write `samples/sample_export.json`: a synthetic Telegram Desktop full-account export.

    python -m samples.make_sample            # rewrites the bundled file (deterministic)
    python -m samples.make_sample --owner-messages 10000 --contacts 40 --months 6 --out data/history.json

The second form writes a history the size of a real one, for benchmarks (generated, never
committed): the same owner over `--contacts` partners (a few write often, most rarely) and
`--months` months, until Alex has written `--owner-messages` messages.

Everyone in it is invented. The owner, Alex, writes in one recognisable style — lowercase, short,
no full stops, the odd emoji, often two or three messages in a row — in Russian with family and
one friend, in English with the others, so a small model can pick the style up in minutes. The
file exercises what the importer must handle: a group and a bot chat, stickers, photos, voice and
video notes, a location, service messages, an edited message, a forward, replies, entity-list
texts, and a few phone numbers, e-mails and links (for redaction).
"""

from __future__ import annotations

import argparse
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

SAMPLE_PATH = Path(__file__).with_name("sample_export.json")
OWNER_ID = 5550001
OWNER_NAME = "Alex"
SEED = 20240301
START = datetime(2024, 3, 1, tzinfo=UTC)
DAYS = 120

# (partner message variants, Alex reply variants). A reply is one or more messages; `|` splits them.
EN_EXCHANGES: list[tuple[list[str], list[str]]] = [
    (["hey! how are you?", "hi alex, how's it going?", "heyy what's up", "yo, alive?"],
     ["hey! all good|you?", "good good, busy week 😅", "alive lol|just got home", "fine, tired|how are u"]),
    (["want to grab coffee later?", "lunch tomorrow?", "coffee this week?", "free on saturday?"],
     ["yes!|at 6?", "sure, the usual place?", "can't today|tomorrow works", "ok 👍|text me when you're out"]),
    (["did you see the match?", "have you watched the new season?", "did you read the article i sent?"],
     ["not yet|no spoilers pls", "yes!! the ending 😱", "half of it|will finish tonight", "nope, tell me later"]),
    (["thanks for yesterday!", "thank you so much for the help", "you're the best"],
     ["anytime 🙂", "np!", "haha no worries|it was fun", "any time, really"]),
    (["i'm running late, sorry", "stuck in traffic", "be there in 20"],
     ["no rush", "ok, i'll grab a table", "np, i'm late too 😅", "ok|take your time"]),
    (["what are you doing tonight?", "plans for the weekend?", "any plans?"],
     ["nothing much|probably gaming", "hiking if the weather is ok", "sleeping 😴", "idk yet|you?"]),
    (["happy birthday!!! 🎉", "congrats on the new job!!"],
     ["thank youu 🥳", "thanks!!|still can't believe it", "aww thanks ❤️"]),
    (["can you send me that file?", "do you have the link?", "send me the address pls"],
     ["sec", "sent|check mail", "one min|looking for it", "ok|will send tonight"]),
    (["ugh monday", "so tired today", "this week is too long"],
     ["same 😩", "hang in there|friday soon", "coffee helps|a lot of coffee"]),
    (["lol look at this", "haha this is so you", "😂😂😂"],
     ["ahaha", "lmao|too real", "😂|where do you find these"]),
]

RU_EXCHANGES: list[tuple[list[str], list[str]]] = [
    (["привет! как дела?", "привет, ты как?", "как ты?", "ну как ты там?"],
     ["привет! норм|ты как?", "все хорошо, работы много 😅", "нормально|устал немного", "хорошо|только пришел"]),
    (["ты поел?", "покушал сегодня?", "ты обедал?"],
     ["да, поел", "ага|суп и макароны", "еще нет|скоро поем", "да мам 🙂"]),
    (["приедешь в выходные?", "когда приедешь?", "заедешь в субботу?"],
     ["постараюсь в субботу", "в воскресенье днем|ок?", "не знаю пока|напишу в пятницу", "да, приеду"]),
    (["позвони как сможешь", "перезвони мне", "можешь говорить?"],
     ["сейчас не могу|вечером наберу", "ок, через 10 мин", "на встрече|позже позвоню"]),
    (["оденься тепло, холодно", "возьми зонт", "не забудь шапку"],
     ["ок 👍", "ага|взял", "мам, мне 30 лет 😅|но ок"]),
    (["спасибо!", "спасибо большое", "спасибо тебе ❤️"],
     ["не за что 🙂", "да ладно|обращайся", "❤️"]),
    (["что делаешь?", "чем занят?", "ты где?"],
     ["работаю", "дома|смотрю сериал", "еду домой", "в магазине|что-то нужно?"]),
    (["пойдем в кино?", "го в бар в пятницу?", "погнали на выходных за город"],
     ["давай!|во сколько?", "в пятницу не могу|в субботу го", "ахах давай", "го 🔥"]),
    (["смотри что нашел", "глянь", "ахахах"],
     ["ахахах", "ору 😂", "жиза|кидай еще"]),
    (["с днем рождения!!! 🎉", "поздравляю!"],
     ["спасибо!! 🥳", "спасибо ❤️|приезжай вечером"]),
]

WORK_EXCHANGES: list[tuple[list[str], list[str]]] = [
    (["can you review my PR when you have a minute?", "PR is up, could you take a look?"],
     ["sure, after lunch", "on it", "looking now|left a couple of comments"]),
    (["standup moved to 11", "meeting is in 5 min", "are you joining the call?"],
     ["ok", "joining", "2 min|finishing something"]),
    (["the build is red again", "prod is down?", "tests are flaky again"],
     ["looking", "ugh|i'll check the logs", "not me this time 😅|but i'll look"]),
    (["when can you ship the feature?", "is the release still on for friday?"],
     ["thursday probably", "yes if qa is happy", "friday, maybe monday|depends on review"]),
    (["thanks for the fix!", "nice work on the release"],
     ["np", "thanks 🙂", "team effort"]),
    (["can we talk about the estimate?", "got a minute?"],
     ["sure|call?", "in 10 min?", "yes, now is fine"]),
]

GROUP_LINES = [
    "who's in for saturday?", "forecast says sun all weekend ☀️", "i'm in", "can someone drive?",
    "meet at the station at 8?", "bring water this time 😅", "same trail as last time?", "i'll bring snacks",
    "anyone has a spare headlamp?", "that view last time tho", "photos from sunday are up",
]
GROUP_ALEX = [
    "in!|i can drive", "8 is early 😴|but ok", "i have a spare one", "same trail is fine", "i'll bring tea",
    "can't this week|next one for sure", "ahaha", "🔥", "ok|see you at 8",
]
BOT_PAIRS = [
    ("/weather", "Berlin: +14°C, light rain. Tomorrow: +17°C, cloudy."),
    ("/weather", "Berlin: +21°C, sunny. Tomorrow: +19°C, wind 5 m/s."),
    ("/forecast", "Next 3 days: 16°C / 18°C / 12°C, rain on Sunday."),
]
STICKERS = ["👍", "😂", "❤️", "😅", "🔥"]


class _Writer:
    """Accumulates one chat's messages with Telegram Desktop's field layout."""

    def __init__(self, rnd: random.Random, chat: dict[str, Any]) -> None:
        self.rnd = rnd
        self.chat = chat
        self.next_id = rnd.randint(100, 900)

    def _base(self, when: datetime, sender: tuple[str, int], kind: str = "message") -> dict[str, Any]:
        name, user_id = sender
        message: dict[str, Any] = {
            "id": self.next_id, "type": kind, "date": when.strftime("%Y-%m-%dT%H:%M:%S"),
            "date_unixtime": str(int(when.timestamp())),
        }
        self.next_id += 1
        if kind == "message":
            message["from"], message["from_id"] = name, f"user{user_id}"
        else:
            message["actor"], message["actor_id"] = name, f"user{user_id}"
        self.chat["messages"].append(message)
        return message

    def text(self, when: datetime, sender: tuple[str, int], text: str | list[Any], **extra: Any) -> dict[str, Any]:
        message = self._base(when, sender)
        message.update(extra)
        message["text"] = text
        parts = [text] if isinstance(text, str) else text
        message["text_entities"] = [{"type": "plain", "text": p} if isinstance(p, str) else p for p in parts]
        return message

    def media(self, when: datetime, sender: tuple[str, int], kind: str) -> dict[str, Any]:
        message = self._base(when, sender)
        n = message["id"]
        if kind == "sticker":
            message.update(file=f"stickers/sticker_{n}.webp", thumbnail=f"stickers/sticker_{n}.webp_thumb.jpg",
                           media_type="sticker", sticker_emoji=self.rnd.choice(STICKERS), width=512, height=512)
        elif kind == "photo":
            message.update(photo=f"photos/photo_{n}@{message['date'][:10]}.jpg", width=1280, height=960)
        elif kind == "voice":
            message.update(file=f"voice_messages/audio_{n}.ogg", media_type="voice_message",
                           mime_type="audio/ogg", duration_seconds=self.rnd.randint(3, 40))
        elif kind == "video_note":
            message.update(file=f"round_video_messages/file_{n}.mp4", media_type="video_message",
                           mime_type="video/mp4", duration_seconds=self.rnd.randint(5, 30))
        elif kind == "location":
            message["location_information"] = {"latitude": 52.52, "longitude": 13.405}
        message["text"], message["text_entities"] = "", []
        return message

    def service(self, when: datetime, sender: tuple[str, int], action: str, **extra: Any) -> None:
        message = self._base(when, sender, kind="service")
        message.update(action=action, **extra)
        message["text"], message["text_entities"] = "", []


def _sessions(rnd: random.Random, count: int) -> list[datetime]:
    """Session start times over DAYS days, sorted; gaps between sessions are hours to days."""
    starts = set()
    while len(starts) < count:
        day = rnd.randrange(DAYS)
        hour = rnd.choice([8, 9, 12, 13, 18, 19, 20, 21, 22])
        starts.add(START.replace(hour=hour) + _minutes(day * 24 * 60 + rnd.randrange(60)))
    return sorted(starts)


def _minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def _owner_reply(w: _Writer, when: datetime, reply: str, owner: tuple[str, int], **extra: Any) -> datetime:
    """Alex's reply, split into several short messages where the template says so."""
    for i, part in enumerate(reply.split("|")):
        when += _minutes(w.rnd.uniform(0.1, 1.5))
        w.text(when, owner, part, **(extra if i == 0 else {}))
    return when


def _dialogue_chat(rnd: random.Random, chat: dict[str, Any], partner: tuple[str, int],
                   exchanges: list[tuple[list[str], list[str]]], sessions: int, extras: bool) -> None:
    w = _Writer(rnd, chat)
    for start in _sessions(rnd, sessions):
        _dialogue_session(w, start, partner, exchanges, extras)


def _dialogue_session(w: _Writer, start: datetime, partner: tuple[str, int],
                      exchanges: list[tuple[list[str], list[str]]], extras: bool) -> None:
    """One session of 2-5 exchanges starting at `start`: the partner writes, Alex answers."""
    rnd, owner, when = w.rnd, (OWNER_NAME, OWNER_ID), start
    for _ in range(rnd.randint(2, 5)):
        incoming, replies = rnd.choice(exchanges)
        when += _minutes(rnd.uniform(0.5, 25))
        first = w.text(when, partner, rnd.choice(incoming))
        if rnd.random() < 0.3:  # partners double-text too
            when += _minutes(rnd.uniform(0.1, 1))
            w.text(when, partner, rnd.choice(rnd.choice(exchanges)[0]))
        when += _minutes(rnd.uniform(0.3, 8))
        extra = {"reply_to_message_id": first["id"]} if rnd.random() < 0.08 else {}
        when = _owner_reply(w, when, rnd.choice(replies), owner, **extra)
        if extras and rnd.random() < 0.12:
            when += _minutes(rnd.uniform(0.1, 2))
            w.media(when, rnd.choice([owner, partner]), rnd.choice(["sticker", "sticker", "photo", "voice"]))
    if extras and rnd.random() < 0.05:
        w.service(when + _minutes(30), partner, "phone_call", duration_seconds=rnd.randint(20, 900),
                  discard_reason="hangup")


def build_sample(seed: int = SEED) -> dict[str, Any]:
    """The whole export as a dict (deterministic for a seed)."""
    rnd = random.Random(seed)
    owner = (OWNER_NAME, OWNER_ID)

    def chat(name: str, export_type: str, export_id: int) -> dict[str, Any]:
        return {"name": name, "type": export_type, "id": export_id, "messages": []}

    mia = chat("Mia Torres", "personal_chat", 5550101)
    mom = chat("Мама", "personal_chat", 5550102)
    kostya = chat("Костя", "personal_chat", 5550103)
    dan = chat("Dan Kowalski", "personal_chat", 5550104)
    hikers = chat("Weekend Hikers", "private_supergroup", 1987654321)
    bot = chat("WeatherNowBot", "bot_chat", 5550199)

    _dialogue_chat(rnd, mia, ("Mia Torres", 5550101), EN_EXCHANGES, 70, extras=True)
    _dialogue_chat(rnd, mom, ("Мама", 5550102), RU_EXCHANGES, 60, extras=True)
    _dialogue_chat(rnd, kostya, ("Костя", 5550103), RU_EXCHANGES, 50, extras=True)
    _dialogue_chat(rnd, dan, ("Dan Kowalski", 5550104), WORK_EXCHANGES, 45, extras=False)
    _special_messages(rnd, mia, mom, dan, owner)
    _group_chat(rnd, hikers, owner)
    _bot_chat(rnd, bot, owner)
    for c in (mia, mom, dan):
        _renumber_in_time_order(c)
    return {
        "about": "Here is the data you requested. Synthetic sample for tgtwin: every person in it is invented.",
        "personal_information": {
            "user_id": OWNER_ID, "first_name": OWNER_NAME, "last_name": "Novak",
            "phone_number": "+1 555 0100 000", "username": "@alex_novak_sample", "bio": "",
        },
        "chats": {"about": "This page lists all chats from this export.",
                  "list": [mia, mom, kostya, dan, hikers, bot]},
    }


def _special_messages(rnd: random.Random, mia: dict[str, Any], mom: dict[str, Any], dan: dict[str, Any],
                      owner: tuple[str, int]) -> None:
    """The odd cases the importer and the redaction step must meet, at fixed points in time."""
    w = _Writer(rnd, mia)
    w.next_id = 50
    when = START.replace(day=15, hour=19)
    w.text(when, ("Mia Torres", 5550101), ["the trail i told you about: ",
                                           {"type": "link", "text": "https://example.org/trails/blue-lake"}])
    _owner_reply(w, when + _minutes(1), "looks great|saturday?", owner)
    edited = w.text(when + _minutes(4), owner, "btw my new number is +1 555 0100 222")
    edited["edited"] = (when + _minutes(6)).strftime("%Y-%m-%dT%H:%M:%S")
    edited["edited_unixtime"] = str(int((when + _minutes(6)).timestamp()))
    w.text(when + _minutes(7), ("Mia Torres", 5550101), ["saved ", {"type": "bold", "text": "✔"}])
    w.media(when + _minutes(8), owner, "location")
    w.media(when + _minutes(30), ("Mia Torres", 5550101), "video_note")
    w = _Writer(rnd, mom)
    w.next_id = 60
    when = START.replace(day=20, hour=12)
    w.text(when, ("Мама", 5550102), "запиши телефон тети Оли: 8 (900) 555-01-23", forwarded_from="Тетя Оля")
    w.text(when + _minutes(3), owner, "записал 👍")
    w = _Writer(rnd, dan)
    w.next_id = 70
    when = START.replace(month=4, day=2, hour=10)
    w.text(when, ("Dan Kowalski", 5550104), ["send the report to ", {"type": "email", "text": "reports@example.com"},
                                             " and cc me"])
    _owner_reply(w, when + _minutes(3), "done|also cc'd alex.novak@example.com", owner)
    w.service(when + _minutes(20), ("Dan Kowalski", 5550104), "pin_message", message_id=70)


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


def _group_chat(rnd: random.Random, chat: dict[str, Any], owner: tuple[str, int]) -> None:
    members = [("Mia Torres", 5550101), ("Sam Okafor", 5550105), ("Lena Berg", 5550106)]
    w = _Writer(rnd, chat)
    w.next_id = 1
    w.service(START, ("Sam Okafor", 5550105), "create_group", title="Weekend Hikers",
              members=["Sam Okafor", "Mia Torres", OWNER_NAME, "Lena Berg"])
    for start in _sessions(rnd, 40):
        when = start
        for _ in range(rnd.randint(3, 7)):
            when += _minutes(rnd.uniform(0.2, 15))
            if rnd.random() < 0.3:
                when = _owner_reply(w, when, rnd.choice(GROUP_ALEX), owner)
            else:
                w.text(when, rnd.choice(members), rnd.choice(GROUP_LINES))
        if rnd.random() < 0.2:
            w.media(when + _minutes(1), rnd.choice(members), "photo")


def _bot_chat(rnd: random.Random, chat: dict[str, Any], owner: tuple[str, int]) -> None:
    w = _Writer(rnd, chat)
    w.next_id = 1
    for start in _sessions(rnd, 15):
        command, answer = rnd.choice(BOT_PAIRS)
        w.text(start, owner, command)
        w.text(start + _minutes(0.05), ("WeatherNowBot", 5550199), answer)


FIRST_NAMES = ["Mia", "Dan", "Sam", "Lena", "Olga", "Ivan", "Nina", "Tom", "Ada", "Omar", "Yuki", "Pavel", "Sara",
               "Lev", "Ines", "Max", "Vera", "Kai", "Rosa", "Egor"]
LAST_NAMES = ["Torres", "Kowalski", "Okafor", "Berg", "Petrova", "Sokolov", "Lind", "Reyes", "Novak", "Haddad"]
LANGUAGES = [EN_EXCHANGES, RU_EXCHANGES, EN_EXCHANGES, WORK_EXCHANGES]


def build_history(owner_messages: int, contacts: int, months: int, seed: int = SEED) -> dict[str, Any]:
    """A full-account export with `contacts` private chats over `months` months, in which Alex
    writes at least `owner_messages` messages (deterministic for a seed). Contact i gets a share of
    the sessions proportional to 1/(i+1), like real histories: a few close contacts, a long tail."""
    rnd = random.Random(seed)
    chats = []
    for i in range(contacts):
        name = f"{FIRST_NAMES[i % len(FIRST_NAMES)]} {LAST_NAMES[(i // len(FIRST_NAMES) + i) % len(LAST_NAMES)]}"
        chats.append({"name": name, "type": "personal_chat", "id": 5551000 + i, "messages": []})
    writers = [_Writer(rnd, chat) for chat in chats]
    weights = [1 / (i + 1) for i in range(contacts)]
    span = months * 30 * 24 * 60
    # Enough session starts in time order (a session makes ~5 owner messages); stop at the target.
    starts = sorted((START + _minutes(rnd.randrange(span)), rnd.choices(range(contacts), weights)[0])
                    for _ in range(owner_messages // 2 + 10))
    owner = f"user{OWNER_ID}"
    written = 0
    for start, i in starts:
        if written >= owner_messages:
            break
        before = len(chats[i]["messages"])
        _dialogue_session(writers[i], start, (chats[i]["name"], 5551000 + i), LANGUAGES[i % len(LANGUAGES)], True)
        written += sum(m.get("from_id") == owner for m in chats[i]["messages"][before:])
    return {
        "about": f"Synthetic history for tgtwin benchmarks: {contacts} invented contacts, {months} months.",
        "personal_information": {"user_id": OWNER_ID, "first_name": OWNER_NAME, "last_name": "Novak",
                                 "phone_number": "+1 555 0100 000", "username": "@alex_novak_sample", "bio": ""},
        "chats": {"about": "This page lists all chats from this export.", "list": [c for c in chats if c["messages"]]},
    }


def _write(path: Path, export: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(export, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    messages = [m for c in export["chats"]["list"] for m in c["messages"]]
    own = sum(m.get("from_id") == f"user{OWNER_ID}" for m in messages)
    print(f"{path}: {len(export['chats']['list'])} chats, {len(messages)} messages, {own} by {OWNER_NAME}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--owner-messages", type=int, help="Write a benchmark history with this many owner messages.")
    parser.add_argument("--contacts", type=int, default=40, help="Private chats in the history (default 40).")
    parser.add_argument("--months", type=int, default=6, help="Months the history spans (default 6).")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out", type=Path, help="Where to write the history (required with --owner-messages).")
    args = parser.parse_args(argv)
    if args.owner_messages is None:
        _write(SAMPLE_PATH, build_sample())
        return
    if args.out is None or args.owner_messages < 1 or args.contacts < 1 or args.months < 1:
        parser.error("--owner-messages needs --out, and every size must be at least 1")
    if args.out.resolve() == SAMPLE_PATH.resolve():
        parser.error(f"{SAMPLE_PATH.name} is the bundled sample; write the history elsewhere")
    _write(args.out, build_history(args.owner_messages, args.contacts, args.months, args.seed))


if __name__ == "__main__":
    main()
