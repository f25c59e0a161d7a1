"""What the recurring facts of the synthetic history say (`testdata.facts` plants them): the pools a
fact's word is drawn from and the lines that state a fact and, days later, ask about it.

A line is (the partner's one message, Alex's reply of two messages split by `|`), with `{word}` (the
fact, in Alex's lowercase when he writes it) and `{day}` to fill. Every line has that shape, so a
fact exchange is always three messages, whatever it says. A question never holds the fact's word:
only Alex's answer does, so answering right needs what was said days before. Besides the fact
(and a plan's day), Alex's lines use only words the everyday exchanges of `testdata.conversations`
use too, so the fact is the one rare word in his answer, as `training.evaluation.memory_recall` defines rare.
Names appear in the nominative everywhere (the Russian lines too): the same spelling is stated and
answered. Every partner line of a kind names the kind's topic ("dog", "cat", "friend", "baby",
"dinner", "trip"; "собака", "кот", "друг", "малыш", "ужин", "поездка"), in a form whose stem finds the
others: the question and the exchange that stated the fact share that word, as "how's the dog?"
names the dog. Memory finds earlier exchanges by the words they share with the partner's message
(`storage.memory_index`); a question that shares none ("guess who learned to sit") would test a
retrieval tgtwin does not have.

Each pool holds 32 words and a chat draws its facts' words without repeats, so a model that knows
the pools but not the chat guesses a fact's word with chance 1/32 (about 3 %).
"""

from __future__ import annotations

from dataclasses import dataclass

Line = tuple[str, str]
"""(the partner's message, Alex's reply: two messages split by `|`)."""


@dataclass(frozen=True, slots=True)
class FactKind:
    """One kind of fact in one language: where its word comes from, and how it is told and later
    asked about when the partner told it and when Alex did."""

    name: str
    pool: tuple[str, ...]
    told_by_partner: tuple[Line, ...]
    asked_after_partner: tuple[Line, ...]
    told_by_owner: tuple[Line, ...]
    asked_after_owner: tuple[Line, ...]


@dataclass(frozen=True, slots=True)
class FactLanguage:
    """The kinds of facts a chat in one language talks about, and its names of the days (for plans)."""

    kinds: tuple[FactKind, ...]
    days: tuple[str, ...]
    """Days a plan is made for: only those the rest of the history names often, so that in a plan
    the place is what is rare (a day is guessed right one time in three or four anyway)."""
    small_talk: Line
    """What a fact exchange says once a chat has used up its pools."""


PETS_EN = ("Rex", "Luna", "Biscuit", "Pepper", "Mochi", "Ziggy", "Nugget", "Waffles", "Pickles", "Churro", "Bruno",
           "Oreo", "Pixel", "Noodle", "Marble", "Clover", "Toffee", "Maple", "Gizmo", "Sprocket", "Tofu", "Basil",
           "Olive", "Peanut", "Ginger", "Pumpkin", "Hazel", "Koda", "Sherlock", "Bagel", "Dumpling", "Chewie")
PEOPLE_EN = ("Hugo", "Clara", "Felix", "Leon", "Greta", "Oscar", "Emil", "Stella", "Jonas", "Iris", "Milo", "Nora",
             "Theo", "Ruby", "Otto", "Alma", "Silas", "Freya", "Jasper", "Elsa", "Caspar", "Mila", "Rufus", "Talia",
             "Arlo", "Wren", "Ezra", "Juno", "Levi", "Maeve", "Soren", "Zara")
VENUES_EN = ("Lotus", "Marigold", "Bellini", "Tandoor", "Saffron", "Pinewood", "Foxglove", "Bluebird", "Lantern",
             "Driftwood", "Cinnamon", "Orchard", "Mosaic", "Zephyr", "Juniper", "Magnolia", "Paprika", "Kettle",
             "Ember", "Harbor", "Sparrow", "Thistle", "Copper", "Acorn", "Nomad", "Quince", "Larder", "Tamarind",
             "Basalt", "Verbena", "Chestnut", "Wildflower")
CITIES_EN = ("Lisbon", "Porto", "Krakow", "Tbilisi", "Valencia", "Bergen", "Tallinn", "Ljubljana", "Seville",
             "Bologna", "Gdansk", "Riga", "Vilnius", "Nantes", "Ghent", "Salzburg", "Bruges", "Naples", "Palermo",
             "Granada", "Bordeaux", "Innsbruck", "Zagreb", "Sarajevo", "Kotor", "Malaga", "Turin", "Lyon", "Bilbao",
             "Trieste", "Verona", "Dubrovnik")

PETS_RU = ("Барсик", "Мурка", "Пушок", "Рыжик", "Тузик", "Шарик", "Снежок", "Бублик", "Пончик", "Кузя", "Соня",
           "Маркиз", "Дымок", "Персик", "Зефир", "Ириска", "Булка", "Тишка", "Фунтик", "Кекс", "Граф", "Бакс",
           "Черныш", "Лаки", "Симба", "Чижик", "Пряник", "Умка", "Марс", "Феня", "Плюша", "Тимоша")
MEN_RU = ("Тимур", "Глеб", "Арсений", "Матвей", "Савва", "Мирон", "Ярослав", "Федя", "Гоша", "Степан", "Артем",
          "Родион", "Елисей", "Демид", "Платон", "Захар", "Тихон", "Лева", "Всеволод", "Богдан", "Святослав",
          "Марат", "Рустам", "Остап", "Филипп", "Эмиль", "Ефим", "Данила", "Роман", "Семен", "Назар", "Трофим")
VENUES_RU = ("Маяк", "Лотос", "Самовар", "Облако", "Пирожок", "Ромашка", "Березка", "Якорь", "Гнездо", "Кедр",
             "Сирень", "Каштан", "Фонарь", "Улей", "Мельница", "Причал", "Чайка", "Шафран", "Корица", "Бубен",
             "Крендель", "Граммофон", "Светлячок", "Вереск", "Ладога", "Самокат", "Клевер", "Ежевика", "Кувшин",
             "Рябина", "Огонек", "Пристань")
CITIES_RU = ("Казань", "Ереван", "Калининград", "Тбилиси", "Сочи", "Минск", "Выборг", "Суздаль", "Псков",
             "Новгород", "Ярославль", "Томск", "Иркутск", "Мурманск", "Архангельск", "Геленджик", "Байкал", "Алтай",
             "Владивосток", "Екатеринбург", "Смоленск", "Петрозаводск", "Кисловодск", "Пятигорск", "Дербент",
             "Таллин", "Вильнюс", "Стамбул", "Баку", "Батуми", "Ташкент", "Самарканд")

ENGLISH = FactLanguage(
    kinds=(
        FactKind(
            "dog", PETS_EN,
            told_by_partner=(("we adopted a dog!! his name is {word}", "aww 😍|want to see"),
                             ("meet {word}, our new dog 🐶", "aww|so nice")),
            asked_after_partner=(("the dog chewed my shoes again 😩", "ahaha {word}|too real"),
                                 ("guess which dog learned to sit", "{word}?|good good")),
            told_by_owner=(("did you get a dog??", "yes!|this is {word} 🐶"),
                           ("is that your dog in the photos?", "yes|that's {word} 😍")),
            asked_after_owner=(("how is your dog doing?", "{word} is fine|sleeping all the time"),
                               ("how's the dog?", "{word} is good|so happy 🐶")),
        ),
        FactKind(
            "cat", PETS_EN,
            told_by_partner=(("we got a cat, her name is {word} 🐱", "aww|want to see"),
                             ("say hi to {word}, our new cat", "hi {word} 👋|so nice")),
            asked_after_partner=(("the cat knocked over my plant again", "{word} 😂|too real"),
                                 ("the cat is sleeping on my keyboard lol", "ahaha {word}|lmao")),
            told_by_owner=(("is that a cat in your photos?", "yes!|this is {word} 😍"),
                           ("did you get a cat??", "yes|{word} 🐱")),
            asked_after_owner=(("how is your cat?", "{word} is fine|sleeping all the time 😴"),
                               ("is the cat still that tiny?", "{word} is good|still sleeping lol")),
        ),
        FactKind(
            "friend", PEOPLE_EN,
            told_by_partner=(("my friend {word} is visiting next week", "nice|have fun"),
                             ("went hiking with my friend {word} today", "nice|next time i'm in")),
            asked_after_partner=(("guess which friend says hi", "{word}?|hi 👋"),
                                 ("my friend is still here lol", "{word}? nice|hi from me 👋")),
            told_by_owner=(("how was your weekend? friends over?", "good|hiking with {word}"),
                           ("busy this week? friends visiting?", "yes|{word} is here")),
            asked_after_owner=(("is your friend still in town?", "{word} left on friday|it was fun"),
                               ("how was the week with your friend?", "{word} was good|we did a lot of hiking")),
        ),
        FactKind(
            "baby", PEOPLE_EN,
            told_by_partner=(("we named the baby {word} 👶", "congrats!!|so happy for you"),
                             ("our baby {word} is finally home", "aww|congrats!!")),
            asked_after_partner=(("the baby finally sleeps through the night", "{word} is the best|happy for you"),
                                 ("guess which baby smiled at me today", "{word}!!|aww")),
            told_by_owner=(("how's your family? the baby is here?", "good!|{word} is home now 👶"),
                           ("any news at home? the baby?", "yes!|{word} is here 👶")),
            asked_after_owner=(("how is the baby at your sister's?", "{word} is fine|sleeping all the time"),
                               ("how's the baby?", "{word} is good|so nice")),
        ),
        FactKind(
            "plan", VENUES_EN,
            told_by_partner=(("dinner on {day} at {word}?", "yes!|{day} at {word}"),
                             ("let's try {word} for dinner on {day}?", "sure|{day} works")),
            asked_after_partner=(("so are we still on for dinner?", "yes|{day}, {word}"),
                                 ("remind me where we're having dinner?", "{word}|on {day}")),
            told_by_owner=(("free for dinner this week?", "{day} works|{word}?"),
                           ("where should we have dinner?", "{word}|on {day}?")),
            asked_after_owner=(("where was that dinner place you wanted to go?", "{word}|on {day}"),
                               ("still on for dinner this week?", "yes|{day} at {word} 👍")),
        ),
        FactKind(
            "trip", CITIES_EN,
            told_by_partner=(("we're flying to {word} next week! first trip this year", "nice!|have fun 😅"),
                             ("booked a weekend trip to {word} 🎉", "nice!!|have fun")),
            asked_after_partner=(("back home from the trip!", "how was {word}?|tell me"),
                                 ("just landed, what a trip", "hey!|how was {word}?")),
            told_by_owner=(("any trip planned for the holidays?", "going to {word}|next week"),
                           ("where are you off to? a trip?", "{word}|for a week")),
            asked_after_owner=(("how was your trip?", "{word} was so good|so much fun"),
                               ("you're back from the trip?", "yes|{word} was so nice")),
        ),
    ),
    days=("monday", "thursday", "friday", "saturday"),
    small_talk=("what's up?", "nothing much|you?"),
)

RUSSIAN = FactLanguage(
    kinds=(
        FactKind(
            "dog", PETS_RU,
            told_by_partner=(("мы взяли собаку! назвали {word}", "поздравляю!|хорошо 😍"),
                             ("знакомься, это {word}, наша новая собака 🐶", "привет {word} 😍|ахах")),
            asked_after_partner=(("собака опять сгрызла тапки 😩", "ахах {word}|жиза"),
                                 ("угадай чья собака научилась давать лапу", "{word}?|ору 😂")),
            told_by_owner=(("у тебя собака что ли??", "да!|это {word} 🐶"),
                           ("это твоя собака на фото?", "да|это {word} 😍")),
            asked_after_owner=(("как твоя собака?", "{word} хорошо|все норм"),
                               ("как собака?", "{word} норм|дома, устал 😅")),
        ),
        FactKind(
            "cat", PETS_RU,
            told_by_partner=(("у нас котенок! зовут {word} 🐱", "поздравляю!!|😍"),
                             ("смотри, это {word}, мы взяли кота", "привет {word}|ахах")),
            asked_after_partner=(("кот опять уронил цветок", "ахах {word}|жиза"),
                                 ("кот спит на моей клавиатуре", "ору|ну {word} 😂")),
            told_by_owner=(("это у тебя кот на фото?", "да!|это {word} 🐱"),
                           ("ты взял кота??", "да|{word} 😍")),
            asked_after_owner=(("как твой кот?", "{word} хорошо|дома все норм"),
                               ("как там кот?", "{word} нормально|все хорошо")),
        ),
        FactKind(
            "friend", MEN_RU,
            told_by_partner=(("на выходных приедет мой друг {word}", "ок|хорошо вам"),
                             ("гуляли сегодня с другом, {word} зовут", "ахах|давай с ним на выходных")),
            asked_after_partner=(("угадай какой друг передает привет", "{word}?|привет ему 👋"),
                                 ("друг все еще у меня", "{word}? привет|как он там")),
            told_by_owner=(("как выходные? друг приезжал?", "норм|{word} был"),
                           ("занят на неделе? друг у тебя?", "немного|{word} у меня")),
            asked_after_owner=(("друг твой уже уехал?", "да, {word} в воскресенье|все хорошо"),
                               ("как погостил твой друг?", "{word}? хорошо|все норм 😅")),
        ),
        FactKind(
            "baby", MEN_RU,
            told_by_partner=(("у нас родился малыш! назвали {word} 👶", "поздравляю!!|❤️"),
                             ("малыш {word} наконец дома", "поздравляю!!|привет {word}")),
            asked_after_partner=(("малыш наконец спит ночью", "ахах {word}|хорошо"),
                                 ("угадай какой малыш мне сегодня улыбнулся", "{word}!!|❤️")),
            told_by_owner=(("у вас малыш родился?", "да!|{word} 👶"),
                           ("ты дядя теперь? малыш родился?", "да!|{word} 👶")),
            asked_after_owner=(("как малыш?", "{word} хорошо|все норм"),
                               ("как малыш у сестры?", "{word} норм|все хорошо")),
        ),
        FactKind(
            "plan", VENUES_RU,
            told_by_partner=(("давай на ужин {day} в кафе «{word}»?", "давай!|{day} в «{word}»"),
                             ("давай {day} на ужин в «{word}»?", "го|{day} могу")),
            asked_after_partner=(("ужин в силе?", "да|{day} в «{word}»"),
                                 ("напомни где ужин?", "в «{word}»|{day}")),
            told_by_owner=(("свободен на неделе? на ужин", "{day} могу|пойдем в «{word}»?"),
                           ("где ужин устроим?", "давай в «{word}»|{day}")),
            asked_after_owner=(("куда мы там собирались на ужин?", "в «{word}»|{day}"),
                               ("ужин на неделе в силе?", "да|{day} в «{word}» 👍")),
        ),
        FactKind(
            "trip", CITIES_RU,
            told_by_partner=(("мы летим в {word} на неделю! первая поездка за год", "хорошо|когда домой?"),
                             ("взяли билеты в {word} 🎉 поездка мечты", "ок|хорошо вам 😅")),
            asked_after_partner=(("мы вернулись! поездка огонь", "ну как {word}?|привет"),
                                 ("только приземлились, поездка была долгая", "привет|как {word}?")),
            told_by_owner=(("планы на отпуск? поездка?", "еду в {word}|на выходные"),
                           ("куда собрался? поездка?", "в {word}|на выходные")),
            asked_after_owner=(("как поездка?", "{word} хорошо|много всего"),
                               ("ты вернулся? как поездка?", "ага|{word} норм")),
        ),
    ),
    days=("в пятницу", "в субботу", "в воскресенье"),
    small_talk=("что делаешь?", "ничего|ты как?"),
)
