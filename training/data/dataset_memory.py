"""Memory in the dataset: what `memory.recall`, the function serving uses, brings back for every
example and every training conversation (`live=False`: training learns from every chat it trains
on, whatever its reply mode; with `memory_enabled` off recall gives nothing, so the dataset is
exactly the one without memory).

- An *example* (one owner reply and its context: what evaluation scores and generates for, held-out
  included) gets the memory serving would compute for that context: the chat's messages before the
  context window's first message (`DialogueExample.window_start`, as `bot.context` does), queried
  by the partner's last turn in the context, nothing else excluded.
- A *training conversation* gets one memory, which every row cut from it shows
  (`training.data.sequences`): only what came before its session (`Conversation.session_start`),
  never a held-out session's messages (`BuiltDataset.heldout_message_ids`), so no row learns from
  the future or from what evaluation scores. See `opening_context` for its query.

A training conversation also records which of its owner turns *use* the memory (`uses_memory`):
the rows that teach the model to read the block, which the run's order brings forward
(`training.data.curriculum`).

Queries read the partner's turn as the dataset holds it, PII redacted, where serving reads the
stored text: the two differ only for a turn with a phone number, an e-mail, a card or a link.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import replace

from memory import recall
from model.dialogue import Recollection, Turn
from settings import Settings
from storage import Database
from training.data.dataset import BuiltDataset
from training.evaluation.memory_recall import HistoryWords, content_words, index_history

log = logging.getLogger(__name__)


def opening_context(turns: Sequence[Turn]) -> tuple[Turn, ...]:
    """The context whose query (`memory.retrieval.query_text`: its partner's last turn) recalls a
    conversation's memory: the turns before its first owner turn that answers the partner.

    Why that query, one per conversation. The memory sits in the prompt head, which every labelled
    turn of a row shares (else no serve-time prompt would be a token prefix of the row), so a row
    gets one memory whatever its turns ask. For the conversation's first reply this one is what
    serving recalls (the same query and the same bound, its context window starting with the
    session; less the held-out sessions), and that is the reply memory matters for most: a question about something said days
    ago opens a session (the generated facts do so by construction). A query per window (its first
    partner turn) would change only for the later windows of long sessions, whose serve-time memory
    training cannot reproduce anyway (serving would also recall from earlier in the session), and
    would tie the memory to where the tokenizer cuts windows, which the dataset does not know: it
    would take a recall for every owner turn that might start one (5,579 instead of 1,305 on a
    generated history of 10k owner messages, at ~1.4 ms a recall). A union of the window's partner
    turns matches no query serving ever makes, and BM25 over many turns ranks by their small talk.
    """
    seen_partner = False
    for index, turn in enumerate(turns):
        if turn.role == "owner" and seen_partner:
            return tuple(turns[:index])
        seen_partner = seen_partner or turn.role == "partner"
    return ()


def uses_memory(turns: Sequence[Turn], memory: Sequence[Recollection], words: HistoryWords) -> tuple[int, ...]:
    """The owner turns among `turns` whose text holds a word that is rare in the history
    (`HistoryWords.is_rare`, the rule memory_recall's fact words follow), is in `memory` and is in
    no earlier turn: a reply the memory made possible ("rex is fine" with "meet Rex" recalled)."""
    remembered = {w for r in memory for t in r.turns for w in content_words(t.text) if words.is_rare(w)}
    used, said = [], set()
    for index, turn in enumerate(turns):
        spoken = content_words(turn.text)
        if turn.role == "owner" and (spoken & remembered) - said:
            used.append(index)
        said |= spoken
    return tuple(used)


async def attach_memory(db: Database, settings: Settings, built: BuiltDataset) -> BuiltDataset:
    """`built` with every example's and every training conversation's memory (the module's rules)."""
    started = time.perf_counter()
    examples = []
    for example in built.examples:
        memory = await recall(db, settings, example.chat_id, example.dialogue.turns, example.window_start, live=False)
        examples.append(replace(example, dialogue=replace(example.dialogue, memory=memory)))
    conversations = []
    words = index_history(built.history)
    for conversation in built.conversations:
        excluded = built.heldout_message_ids.get(conversation.chat_id, frozenset())
        memory = await recall(db, settings, conversation.chat_id, opening_context(conversation.dialogue.turns),
                              conversation.session_start, live=False, exclude_message_ids=excluded)
        used = uses_memory(conversation.dialogue.turns, memory, words) if memory else ()
        conversations.append(replace(conversation, dialogue=replace(conversation.dialogue, memory=memory),
                                     memory_used=used))
    stats = replace(built.stats, memory_examples=sum(bool(e.dialogue.memory) for e in examples),
                    memory_conversations=sum(bool(c.dialogue.memory) for c in conversations))
    log.debug("dataset memory: %d of %d training conversations (%d using it) and %d of %d examples recalled "
              "earlier exchanges (%.1f s)", stats.memory_conversations, len(conversations),
              sum(bool(c.memory_used) for c in conversations), stats.memory_examples, len(examples),
              time.perf_counter() - started)
    return replace(built, examples=examples, stats=stats, conversations=conversations)
