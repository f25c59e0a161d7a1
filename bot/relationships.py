"""Who each contact is: conservative relationship suggestions from Telegram's own data.

A suggestion is stored next to the chat (`chats.relationship_suggestion` + `relationship_reason`)
and is not used for training or replies until the owner confirms it (it is then copied into
`chats.relationship`, see `storage.chats.confirm_relationship`) or enables
`TGTWIN_RELATIONSHIP_AUTO_USE` (see `ChatRow.relationship_in_use`).

What can honestly be told: a chat the owner titled "Мама"/"Mom" (or "Папа"/"Dad", "Бабушка",
"Брат", "Жена"…) says the relationship in the owner's own words. A spouse's or friend's *name*
says nothing, so no guess is made from names. Without such a title, Telegram's data only supports
"close contact" (mutual contact the owner talks with often), "contact" or "acquaintance"; the
reason lists the facts (contact, mutual, shared groups, how long and how often they talk, the
script the partner writes in). Pure, except `refresh_suggestions` at the bottom (client + db).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyrogram import Client

    from storage import Database

log = logging.getLogger(__name__)

# Whole-title words (lower case) that name the relationship in the owner's own words.
_TITLE_WORDS: dict[str, frozenset[str]] = {
    "parent": frozenset({"мама", "мамочка", "мамуля", "мать", "mom", "mum", "mommy", "mummy", "mother",
                         "папа", "папочка", "папуля", "отец", "dad", "daddy", "father"}),
    "grandparent": frozenset({"бабушка", "бабуля", "дедушка", "дедуля", "grandma", "granny", "grandpa",
                              "grandmother", "grandfather"}),
    "sibling": frozenset({"брат", "братишка", "сестра", "сестрёнка", "сестренка", "brother", "sister"}),
    "spouse": frozenset({"жена", "муж", "wife", "husband", "hubby"}),
    "child": frozenset({"сын", "дочь", "дочка", "son", "daughter"}),
}
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
DAY = 86400
CLOSE_MIN_MONTHS = 3.0
CLOSE_MIN_PER_MONTH = 20.0


@dataclass(frozen=True, slots=True)
class ContactFacts:
    """What Telegram (or an export) says about one private chat's partner."""

    chat_id: int
    title: str
    is_contact: bool | None = None
    """None: unknown (e.g. an export without a contacts list)."""
    is_mutual_contact: bool | None = None
    shared_groups: int | None = None
    messages: int = 0
    first_date: int | None = None
    last_date: int | None = None
    partner_texts: tuple[str, ...] = ()
    """A sample of the partner's messages, for the script they write in."""


@dataclass(frozen=True, slots=True)
class RelationshipSuggestion:
    chat_id: int
    relationship: str
    reason: str


def _title_relationship(title: str) -> str | None:
    """Only a title that is one relationship word (an emoji or "my" around it is fine): "Мама ❤️",
    "My Mom" → parent; "Mom's friend Anna" stays unknown."""
    words = [w.lower() for w in _WORD.findall(title)]
    words = [w for w in words if w not in {"my", "моя", "мой", "любимая", "любимый", "dear"}]
    if len(words) != 1:
        return None
    return next((rel for rel, vocab in _TITLE_WORDS.items() if words[0] in vocab), None)


def script_of(texts: Iterable[str]) -> str | None:
    """The script most letters are in: "Cyrillic", "Latin", or None when there are too few letters."""
    cyrillic = latin = 0
    for text in texts:
        for ch in text:
            if "а" <= ch.lower() <= "я" or ch in "ёЁіїєґІЇЄҐ":
                cyrillic += 1
            elif ch.isascii() and ch.isalpha():
                latin += 1
    if cyrillic + latin < 20:
        return None
    return "Cyrillic" if cyrillic >= latin else "Latin"


def suggest_relationship(facts: ContactFacts) -> RelationshipSuggestion | None:
    """A conservative suggestion with the facts behind it, or None when nothing honest can be said."""
    details: list[str] = []
    if facts.is_mutual_contact:
        details.append("mutual contact")
    elif facts.is_contact:
        details.append("in contacts")
    elif facts.is_contact is False:
        details.append("not in contacts")
    if facts.shared_groups:
        details.append(f"{facts.shared_groups} shared group(s)")
    months = 0.0
    if facts.first_date is not None and facts.last_date is not None and facts.messages:
        months = max(1.0, (facts.last_date - facts.first_date) / (30 * DAY))
        details.append(f"{facts.messages} messages over {months:.0f} month(s) ({facts.messages / months:.0f}/month)")
    script = script_of(facts.partner_texts)
    if script is not None:
        details.append(f"writes in {script}")
    facts_text = "; ".join(details)

    from_title = _title_relationship(facts.title)
    if from_title is not None:
        reason = f"chat title {facts.title!r}" + (f"; {facts_text}" if facts_text else "")
        return RelationshipSuggestion(facts.chat_id, from_title, reason)
    if facts.is_contact is None:
        return None  # no contact data: a title without a relationship word says nothing
    if facts.is_mutual_contact and months >= CLOSE_MIN_MONTHS and facts.messages / months >= CLOSE_MIN_PER_MONTH:
        return RelationshipSuggestion(facts.chat_id, "close contact", facts_text)
    if facts.is_contact:
        return RelationshipSuggestion(facts.chat_id, "contact", facts_text)
    return RelationshipSuggestion(facts.chat_id, "acquaintance", facts_text)


async def chat_facts(db: "Database", chat_id: int, title: str, *, is_contact: bool | None,
                     is_mutual_contact: bool | None, shared_groups: int | None) -> ContactFacts:
    """Telegram's facts plus what the stored history says (how long, how often, which script)."""
    row = await db.fetchone(
        "SELECT COUNT(*) AS n, MIN(date) AS first, MAX(date) AS last FROM messages WHERE chat_id = ? AND deleted = 0",
        (chat_id,),
    )
    texts = await db.fetchall(
        "SELECT text FROM messages WHERE chat_id = ? AND outgoing = 0 AND deleted = 0 ORDER BY date DESC LIMIT 200",
        (chat_id,),
    )
    return ContactFacts(chat_id, title, is_contact, is_mutual_contact, shared_groups,
                        int(row["n"]) if row else 0, row["first"] if row else None, row["last"] if row else None,
                        tuple(r["text"] for r in texts))


async def refresh_suggestions(client: "Client", db: "Database",
                              chat_ids: Sequence[int]) -> list[RelationshipSuggestion]:
    """Ask Telegram about these private chats' partners (contact, mutual contact, shared groups)
    and store a suggestion for each; the confirmed relationship is never touched."""
    from pyrogram import raw

    from storage import NotFound
    from storage import chats as chat_queries

    suggestions = []
    users = {u.id: u for u in await client.get_users(list(chat_ids))} if chat_ids else {}
    for chat_id in chat_ids:
        user = users.get(chat_id)
        if user is None:
            continue
        try:
            chat = await chat_queries.get_chat(db, chat_id)
        except NotFound:
            continue
        full = await client.invoke(raw.functions.users.GetFullUser(id=await client.resolve_peer(chat_id)))
        facts = await chat_facts(db, chat_id, chat.title, is_contact=bool(user.is_contact),
                                 is_mutual_contact=bool(user.is_mutual_contact),
                                 shared_groups=int(full.full_user.common_chats_count or 0))
        suggestion = suggest_relationship(facts)
        if suggestion is not None:
            async with db.atomic():
                await chat_queries.set_relationship_suggestion(db, chat_id, suggestion.relationship, suggestion.reason)
            suggestions.append(suggestion)
    log.info("relationships: %s suggestion(s) for %s chat(s)", len(suggestions), len(chat_ids))
    return suggestions
