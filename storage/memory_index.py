"""The memory index: full-text search over one chat's live messages (SQLite FTS5, migration 0007).

Shape. `messages` is WITHOUT ROWID (keyed by `(chat_id, message_id)`) and FTS5 keys its rows by an
integer rowid, so `memory_rowids` gives every message one; the FTS table `memory_fts` keeps no copy
of the texts (external content: the view `memory_source` over `messages`), which would otherwise
double the largest data in the database. Storing `chat_id`/`message_id` UNINDEXED inside the FTS
table instead would make every edit and delete a scan of the whole index to find the row.

Kept in step by triggers on `messages`, not by the writers: every write path (export import,
harvest, live sync, catch-up edits, `mark_deleted`, migrations that delete rows) goes through them,
including ones written later. A deleted message (`deleted = 1`) leaves the index at once and comes
back if Telegram re-delivers it (an upsert sets `deleted = 0`). Searches also read `deleted = 0`.
The writers in storage.messages insert a batch in one statement, which is what keeps indexing
cheap (FTS5 writes its pending index at every statement's end; see `_write_staged`).

Tokenizer and query form. Owners write Russian and English. The index uses `unicode61
remove_diacritics 2` (case folding for Latin and Cyrillic, `café` = `cafe`) over the text with `ё`
folded to `е` (unicode61 keeps those apart). No stemmer ships with SQLite and none is a dependency,
so inflection is met halfway, cheaply: each query word loses one common ending (Russian case and
verb endings, English -s/-es/-ed/-ing) and is searched as a prefix: "собакой" → `собак*` finds
"собака", "собаку"; "meeting" → `meet*` finds "meet", "meets". Words of one letter, a short list of
function words and anything past `MAX_TERMS` distinct stems are left out of the query (they rank
nothing and make a search touch most of the chat). Every term is quoted, so FTS5 syntax in a
message (quotes, `*`, `NEAR`, `-`, parentheses, column names) is text, never an error.

Relevance floor. A query word held by more than `COMMON_SHARE` of all stored messages (and by more
than `COMMON_FLOOR`) is left out too: a word that common finds nothing in particular ("week",
"plans" in a busy history), and BM25 over it ranks small talk by its length. A partner's message
with no rarer word gets no memory at all, so memory comes only where the message names something
("how's the puppy?", "how's Max?"), not for every "plans for the weekend?". Measured on a generated
history of 18,507 messages (`testdata.exports`, 10,000 by the owner): the topic words of its facts
("dog", "kitten", "friend", "trip") are held by 0.04-0.2 % of the messages, everyday words by
0.5-3 % ("weekend" 0.9 %, "friday" 1.7 %, "week" 3 %).

Ranking: BM25 over the text column (the chat token weighs nothing), the most recent first among
equal scores.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from storage.db import Database
from storage.messages import _message
from storage.rows import MessageRow

MAX_TERMS = 12
"""Distinct query stems searched for at most (the longest, which carry the most meaning)."""
COMMON_SHARE = 0.005
"""A query word held by more than this share of the stored messages is too common to search for."""
COMMON_FLOOR = 20
"""...unless it is held by at most this many messages (a small history: every word is "common")."""
MIN_STEM = 3
"""An ending is only cut where this many letters remain: `дом` stays `дом`, not `д*`."""

_WORD = re.compile(r"[^\W_]+")
_CYRILLIC = re.compile(r"[а-я]")
_RU_ENDINGS = tuple(sorted((
    "ями", "ами", "ого", "его", "ому", "ему", "ыми", "ими", "иях", "ией", "ешь", "ете", "ите", "ишь", "ает",
    "ой", "ей", "ом", "ем", "ам", "ям", "ах", "ях", "ую", "юю", "ая", "яя", "ое", "ее", "ые", "ие", "ых", "их",
    "ов", "ев", "ию", "ия", "ий", "ть", "ут", "ют", "ат", "ят", "ет", "ит", "ся", "сь",
    "а", "я", "о", "е", "у", "ю", "ы", "и", "ь", "й",
), key=len, reverse=True))
_EN_ENDINGS = ("ing", "ies", "es", "ed", "s")
_STOPWORDS = frozenset("""
a an and are as at be but by can could did do does for from had has have he her him his how i if in into is
it its just me my no not of on or our she so that the their them then there they this to too up us was we
were what when where which who why will with would you your yes ok okay hi hey lol
и в во не что он на я с со как а то все она так его но да ты к у же вы за бы по только ее мне было вот
от меня еще нет о из ему теперь когда даже ну ли если уже или ни быть был него до вас нибудь опять уж вам
ведь там потом себя ничего ей может они тут где есть надо ней для мы тебя их чем была сам чтоб без будто
чего раз тоже себе под будет ж тогда кто этот того потому этого какой совсем ним здесь этом один почти мой
тем чтобы нее сейчас были куда зачем всех никогда можно при наконец два об другой хоть после над больше
тот через эти нас про всего них какая много разве три эту моя впрочем хорошо свою этой перед иногда лучше
чуть том нельзя такой им более всегда конечно всю между это ага угу привет пока спасибо ок ладно
""".split())


def _fold(text: str) -> str:
    """What the index holds of a word: case-folded, `ё` as `е` (the tokenizer strips the rest)."""
    return text.casefold().replace("ё", "е")


def stem(word: str) -> str:
    """One common ending off a folded word, where `MIN_STEM` letters remain (see the module)."""
    if any(ch.isdigit() for ch in word):
        return word
    endings = _RU_ENDINGS if _CYRILLIC.search(word) else _EN_ENDINGS
    for ending in endings:
        if word.endswith(ending) and len(word) - len(ending) >= MIN_STEM:
            return word[: -len(ending)]
    return word


def query_stems(text: str) -> list[str]:
    """The stems `text` (a partner's messages) is searched by: its words less function words, one
    ending off each, the `MAX_TERMS` longest (see the module)."""
    stems: dict[str, None] = {}
    for word in _WORD.findall(_fold(text)):
        if len(word) >= 2 and word not in _STOPWORDS:
            stems.setdefault(stem(word), None)
    return sorted(stems, key=len, reverse=True)[:MAX_TERMS]


def _term(stem_: str) -> str:
    """A stem as a quoted FTS5 term: a prefix where it is long enough to be one."""
    return f'"{stem_}"' if stem_.isdigit() or len(stem_) < MIN_STEM else f'"{stem_}"*'


def match_expression(chat_id: int, stems: list[str]) -> str | None:
    """`stems` (`query_stems`) → an FTS5 MATCH expression over `chat_id`'s messages, or None when there
    is nothing to search for. Any text is safe: every term is a quoted string."""
    if not stems:
        return None
    return f"chat : {chat_token(chat_id)} AND text : ({' OR '.join(_term(s) for s in stems)})"


async def distinctive(db: Database, stems: list[str]) -> list[str]:
    """The stems held by few enough of all stored messages to search for (the relevance floor)."""
    if not stems:
        return []
    stored = await db.scalar("SELECT COUNT(*) FROM memory_rowids") or 0
    limit = max(COMMON_FLOOR, int(stored * COMMON_SHARE))
    kept = []
    for stem_ in stems:
        holding = await db.scalar("SELECT COUNT(*) FROM memory_fts WHERE memory_fts MATCH ?",
                                  (f"text : {_term(stem_)}",))
        if (holding or 0) <= limit:
            kept.append(stem_)
    return kept


def chat_token(chat_id: int) -> str:
    """The chat as the index's one-token `chat` column holds it (migration 0007's expression)."""
    return f"{'n' if chat_id < 0 else 'p'}{abs(chat_id)}"


@dataclass(frozen=True, slots=True)
class IndexHit:
    message: MessageRow
    score: float
    """BM25 as SQLite's `bm25()` gives it: lower is more relevant."""


async def search(db: Database, chat_id: int, text: str, before_date: int, limit: int) -> list[IndexHit]:
    """`chat_id`'s live messages dated before `before_date` that share a word with `text` that is not
    too common (`distinctive`), most relevant first (BM25; the most recent first among equal
    scores), at most `limit`."""
    if limit < 1:
        return []
    expression = match_expression(chat_id, await distinctive(db, query_stems(text)))
    if expression is None:
        return []
    # Ranked on the index and `memory_rowids` alone; only the `limit` best read their message row.
    rows = await db.fetchall(
        """SELECT m.*, best.score FROM (
               SELECT r.chat_id, r.message_id, r.date, bm25(memory_fts, 1.0, 0.0) AS score
               FROM memory_fts JOIN memory_rowids r ON r.id = memory_fts.rowid
               WHERE memory_fts MATCH ? AND r.chat_id = ? AND r.date < ?
               ORDER BY score, r.date DESC, r.message_id DESC LIMIT ?) best
           JOIN messages m ON m.chat_id = best.chat_id AND m.message_id = best.message_id
           WHERE m.deleted = 0 ORDER BY best.score, best.date DESC, best.message_id DESC""",
        (expression, chat_id, before_date, limit),
    )
    return [IndexHit(_message(r), float(r["score"])) for r in rows]


async def messages_around(db: Database, message: MessageRow, before_date: int, span: int) -> list[MessageRow]:
    """Up to `span` live messages of the same chat before `message`, the message itself and up to
    `span` after it that are dated before `before_date`, in time order (what an exchange is cut from)."""
    key = (message.chat_id, message.date, message.message_id)
    rows = await db.fetchall(
        """SELECT * FROM (SELECT * FROM messages WHERE chat_id = ? AND deleted = 0 AND (date, message_id) < (?, ?)
                          ORDER BY date DESC, message_id DESC LIMIT ?)
           UNION ALL
           SELECT * FROM (SELECT * FROM messages
                          WHERE chat_id = ? AND deleted = 0 AND (date, message_id) >= (?, ?) AND date < ?
                          ORDER BY date, message_id LIMIT ?)
           ORDER BY date, message_id""",
        (*key, span, *key, before_date, span + 1),
    )
    return [_message(r) for r in rows]
