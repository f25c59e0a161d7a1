"""The people in the synthetic exports and how they talk.

Everyone is invented. The owner, Alex, writes in one recognisable style — lowercase, short, no full
stops, the odd emoji, often two or three messages in a row — in Russian with family and one friend,
in English with the others, so a small model can pick the style up in minutes. A session is a few
exchanges in a row; the functions here write one session through an `ExportWriter`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from testdata.export_writer import ExportWriter, Sender

OWNER_ID = 5550001
OWNER_NAME = "Alex"
OWNER: Sender = (OWNER_NAME, OWNER_ID)
OWNER_PROFILE = {
    "user_id": OWNER_ID, "first_name": OWNER_NAME, "last_name": "Novak",
    "phone_number": "+1 555 0100 000", "username": "@alex_novak_sample", "bio": "",
}
START = datetime(2024, 3, 1, tzinfo=UTC)
"""Where every synthetic history begins."""

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
GROUP_OWNER = [
    "in!|i can drive", "8 is early 😴|but ok", "i have a spare one", "same trail is fine", "i'll bring tea",
    "can't this week|next one for sure", "ahaha", "🔥", "ok|see you at 8",
]
LINKS = ["https://example.org/trails/blue-lake", "https://example.org/recipes/borscht", "https://example.org/news/42"]
FIRST_NAMES = ["Mia", "Dan", "Sam", "Lena", "Olga", "Ivan", "Nina", "Tom", "Ada", "Omar", "Yuki", "Pavel", "Sara",
               "Lev", "Ines", "Max", "Vera", "Kai", "Rosa", "Egor"]
LAST_NAMES = ["Torres", "Kowalski", "Okafor", "Berg", "Petrova", "Sokolov", "Lind", "Reyes", "Novak", "Haddad"]
LANGUAGES = [EN_EXCHANGES, RU_EXCHANGES, EN_EXCHANGES, WORK_EXCHANGES]


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def owner_reply(w: ExportWriter, when: datetime, reply: str, **extra: Any) -> datetime:
    """Alex's reply, split into several short messages where the template says so (`|`); returns
    when the last one was sent."""
    for i, part in enumerate(reply.split("|")):
        when += minutes(w.rnd.uniform(0.1, 1.5))
        w.text(when, OWNER, part, **(extra if i == 0 else {}))
    return when


def dialogue_session(w: ExportWriter, start: datetime, partner: Sender,
                     exchanges: list[tuple[list[str], list[str]]], extras: bool) -> datetime:
    """One session of 2-5 exchanges starting at `start`: the partner writes, Alex answers; with
    `extras`, now and then a sticker, photo or voice message, and a call after the session.
    Returns when the last message was sent."""
    rnd, when = w.rnd, start
    for _ in range(rnd.randint(2, 5)):
        incoming, replies = rnd.choice(exchanges)
        when += minutes(rnd.uniform(0.5, 25))
        first = w.text(when, partner, rnd.choice(incoming))
        if rnd.random() < 0.3:  # partners double-text too
            when += minutes(rnd.uniform(0.1, 1))
            w.text(when, partner, rnd.choice(rnd.choice(exchanges)[0]))
        when += minutes(rnd.uniform(0.3, 8))
        extra = {"reply_to_message_id": first["id"]} if rnd.random() < 0.08 else {}
        when = owner_reply(w, when, rnd.choice(replies), **extra)
        if extras and rnd.random() < 0.12:
            when += minutes(rnd.uniform(0.1, 2))
            w.media(when, rnd.choice([OWNER, partner]), rnd.choice(["sticker", "sticker", "photo", "voice"]))
    if extras and rnd.random() < 0.05:
        w.service(when + minutes(30), partner, "phone_call", duration_seconds=rnd.randint(20, 900),
                  discard_reason="hangup")
    return when


def group_session(w: ExportWriter, start: datetime, members: list[Sender]) -> datetime:
    """3-7 lines in a group, Alex writing about a third of them; sometimes a photo after. Returns
    when the last line was sent."""
    rnd, when = w.rnd, start
    for _ in range(rnd.randint(3, 7)):
        when += minutes(rnd.uniform(0.2, 15))
        if rnd.random() < 0.3:
            when = owner_reply(w, when, rnd.choice(GROUP_OWNER))
        else:
            w.text(when, rnd.choice(members), rnd.choice(GROUP_LINES))
    if rnd.random() < 0.2:
        w.media(when + minutes(1), rnd.choice(members), "photo")
    return when
