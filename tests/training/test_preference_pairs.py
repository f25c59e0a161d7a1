"""The preference-pair builder over plain rows: edits, own replies after a discarded draft, and what
is not a preference."""

from __future__ import annotations

import pytest

from model.dialogue import join_messages
from storage.replies import Draft
from storage.rows import ChatRow, MessageRow
from training.data.preference_pairs import (
    OWN_REPLY_WINDOW_SECONDS,
    DraftWithMessages,
    PairOptions,
    build_preference_pairs,
    count_pairs,
    is_meaningful_edit,
)

T = 1_700_000_000
CHAT = ChatRow(1, "private", "Anna", relationship="sister")
OPTIONS = PairOptions(context_turns=4, gap_seconds=3600)


def msg(message_id: int, date: int, text: str, outgoing: bool = False, chat_id: int = 1) -> MessageRow:
    return MessageRow(chat_id, message_id, None if outgoing else 7, None if outgoing else "Anna", outgoing, date, text)


def draft(
    text: str, status: str = "sent", sent_text: str | None = None, created: int = T + 100,
    trigger: int | None = 3, draft_id: int = 1,
) -> Draft:
    return Draft(draft_id, 1, trigger, text, sent_text, status, created, created + 5)  # type: ignore[arg-type]


HISTORY = [
    msg(1, T - 10 * 3600, "old session, not context"),
    msg(2, T, "hi!"),
    msg(3, T + 60, "are we still on for tonight?"),
]


def build(item_draft: Draft, messages: list[MessageRow] = HISTORY, chat: ChatRow = CHAT,
          options: PairOptions = OPTIONS):
    return build_preference_pairs([DraftWithMessages(item_draft, chat, messages)], options)


def test_edited_draft_is_a_pair_with_the_trained_context() -> None:
    [pair] = build(draft("Yes, certainly. See you at 8.", sent_text="ага, в 8)"))
    assert (pair.kind, pair.chosen, pair.rejected, pair.draft_id, pair.date) == (
        "edited", "ага, в 8)", "Yes, certainly. See you at 8.", 1, T + 100)
    # the last session only (the 10-hour gap cuts the old one), one partner turn, the chat's header
    assert [t.messages for t in pair.dialogue.turns] == [("hi!", "are we still on for tonight?")]
    assert (pair.dialogue.partner_name, pair.dialogue.relationship) == ("Anna", "sister")


def test_the_context_ends_at_the_trigger_message_not_at_the_draft_time() -> None:
    later = [*HISTORY, msg(4, T + 90, "also bring the charger")]
    [pair] = build(draft("Sure thing.", sent_text="ок)"), later)
    assert pair.dialogue.turns[-1].messages[-1] == "are we still on for tonight?"
    [pair] = build(draft("Sure thing.", sent_text="ок)", trigger=None), later)
    assert pair.dialogue.turns[-1].messages[-1] == "also bring the charger"


def test_context_keeps_the_last_k_turns() -> None:
    messages = [msg(i, T + 10 * i, f"m{i}", outgoing=i % 2 == 1) for i in range(10)]
    [pair] = build(draft("Okay then.", sent_text="ну ок)", trigger=8), messages)
    assert [t.text for t in pair.dialogue.turns] == ["m5", "m6", "m7", "m8"]


@pytest.mark.parametrize("sent", [
    "Yes, see you at 8.",            # unchanged
    "  Yes,  see you\tat 8. ",        # whitespace only
    "Yes, see you at 8",              # one character (the period)
    "yes, see you at 8.",             # one capital letter
    "Yes, see yo at 8.",              # a typo
    None,                             # sent without a recorded text
])
def test_near_identical_sends_are_not_preferences(sent: str | None) -> None:
    assert build(draft("Yes, see you at 8.", sent_text=sent)) == []


def test_meaningful_edit_rule() -> None:
    assert not is_meaningful_edit("a\n␞\nb", "a b")          # the same words split into messages differently
    assert not is_meaningful_edit("ok", "ok!")
    assert is_meaningful_edit("Ok Sure", "ok sure")           # lowering every word is the owner's style
    assert is_meaningful_edit("ok", "ок)")                    # Latin to Cyrillic plus a smiley
    assert is_meaningful_edit("да", "нет")
    assert not is_meaningful_edit("", "something")            # nothing to compare


def test_discarded_draft_and_own_reply_soon_after_is_a_pair() -> None:
    after = [msg(10, T + 400, "не, давай завтра", outgoing=True), msg(11, T + 410, "сорри)", outgoing=True),
             msg(12, T + 500, "ok")]
    [pair] = build(draft("Yes, see you tonight!", status="discarded"), HISTORY + after)
    assert pair.kind == "own_reply"
    assert pair.chosen == join_messages(["не, давай завтра", "сорри)"])
    assert pair.dialogue.turns[-1].role == "partner"


def test_pending_draft_answered_in_telegram_counts_like_a_discarded_one() -> None:
    own = [msg(10, T + 400, "не, давай завтра", outgoing=True)]
    assert [p.kind for p in build(draft("Yes, see you tonight!", status="pending"), HISTORY + own)] == ["own_reply"]
    # the owner sent the suggestion from the Telegram input box unchanged: no preference
    same = [msg(10, T + 400, "Yes, see you tonight!", outgoing=True)]
    assert build(draft("Yes, see you tonight!", status="pending"), HISTORY + same) == []


def test_the_bots_own_send_after_a_discarded_draft_is_not_the_owners_reply() -> None:
    bot = MessageRow(1, 10, None, None, True, T + 400, "не, давай завтра", authored_by="bot")
    assert build(draft("Yes, see you tonight!", status="discarded"), [*HISTORY, bot]) == []
    unchanged = MessageRow(1, 10, None, None, True, T + 400, "Yes, see you!", authored_by="draft_unchanged")
    assert build(draft("Yes, see you tonight!", status="pending"), [*HISTORY, unchanged]) == []


@pytest.mark.parametrize("after", [
    [],                                                                                # no reply at all
    [msg(10, T + 100 + OWN_REPLY_WINDOW_SECONDS + 1, "later", outgoing=True)],         # too late
    [msg(10, T + 300, "hello??"), msg(11, T + 400, "sorry, yes", outgoing=True)],      # the partner spoke first
])
def test_discarded_draft_without_a_timely_own_reply_is_not_a_pair(after: list[MessageRow]) -> None:
    assert build(draft("Yes, see you tonight!", status="discarded"), HISTORY + after) == []


def test_drafts_without_a_partner_context_or_from_excluded_chats_are_skipped() -> None:
    edited = draft("Certainly, madam.", sent_text="ага)")
    assert build(edited, []) == []                                              # no stored context
    assert build(edited, [msg(3, T, "I said I'd call", outgoing=True)]) == []   # the context ends with the owner
    assert build(edited, chat=ChatRow(1, "private", "Anna", train=False)) == []  # chat opted out of training
    group = ChatRow(1, "group", "Friends")
    assert build(edited, chat=group) == []
    assert len(build(edited, chat=group, options=PairOptions(train_groups=True))) == 1


def test_pii_is_redacted_and_blocked_words_drop_the_pair() -> None:
    edited = draft("Call me at +1 415 555 0100.", sent_text="звони на +1 415 555 0199)")
    [pair] = build(edited)
    assert "555" not in pair.chosen and "555" not in pair.rejected
    assert build(edited, options=PairOptions(blocked_words=("tonight",))) == []


def test_pairs_are_sorted_and_counted() -> None:
    first = draft("Certainly.", sent_text="ага)", created=T + 200, draft_id=2)
    second = draft("Yes, certainly.", sent_text="да)", created=T + 100, draft_id=1)
    own = draft("See you.", status="discarded", created=T + 300, draft_id=3)
    items = [DraftWithMessages(d, CHAT, HISTORY + [msg(20, T + 320, "не сегодня", outgoing=True)])
             for d in (first, second, own)]
    pairs = build_preference_pairs(items, OPTIONS)
    assert [p.draft_id for p in pairs] == [1, 2, 3]
    counts = count_pairs(pairs, used_draft_ids={1, 99})
    assert counts.as_dict() == {"total": 3, "unused": 2, "edited": 2, "own_reply": 1}
