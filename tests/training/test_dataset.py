"""Dataset building: no owner reply lost, context, groups, conditioning, split, redaction, blocking."""

from __future__ import annotations

from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from model.dialogue import clean_text
from storage.rows import ChatRow, MessageRow
from training.data.dataset import (
    ChatHistory,
    DatasetOptions,
    DialogueExample,
    build_dataset,
    chat_allowed,
    heldout_count,
)

PRIVATE = ChatRow(1, "private", "Anna", relationship="friend")
GAP = 3 * 3600


def msg(i: int, outgoing: bool, date: int, text: str, sender: str | None = "Anna",
        media: str | None = None, chat_id: int = 1) -> MessageRow:
    return MessageRow(chat_id, i, None if outgoing else 10, None if outgoing else sender, outgoing, date, text, media)


def options(**kw) -> DatasetOptions:
    base = dict(context_turns=4, gap_seconds=GAP, redact_pii=False)
    base.update(kw)
    return DatasetOptions(**base)


histories = st.lists(
    st.tuples(st.booleans(), st.integers(0, 5 * 3600), st.text(min_size=0, max_size=12),
              st.sampled_from([None, None, None, "photo", "sticker"])),
    max_size=60,
)


@hsettings(max_examples=150, deadline=None)
@given(histories, st.booleans(), st.integers(1, 6))
def test_no_owner_reply_is_ever_lost(rows, keep_media, k):
    messages, date = [], 0
    for i, (outgoing, step, text, media) in enumerate(rows):
        date += step
        messages.append(msg(i, outgoing, date, text, media=media))
    built = build_dataset([ChatHistory(PRIVATE, messages)], options(context_turns=k, keep_media=keep_media))

    def contributes(m: MessageRow) -> bool:
        return bool(clean_text(m.text)) or (keep_media and m.media is not None)

    owner_in = [m for m in messages if m.outgoing and contributes(m)]
    owner_out = [text for e in built.examples for text in e.reply.messages]
    assert len(owner_out) == len(owner_in)
    for m, text in zip(owner_in, owner_out, strict=True):
        assert clean_text(m.text) in text
    for e in built.examples:
        assert len(e.dialogue.turns) <= k
        assert e.owner_initiated == (not e.dialogue.turns)
        assert all(t.date <= e.date for t in e.dialogue.turns)


def test_sessions_context_and_conditioning():
    messages = [
        msg(1, False, 0, "привет"), msg(2, False, 10, "как дела?"), msg(3, True, 20, "норм"),
        msg(4, True, 25, "а ты?"), msg(5, False, 30, "ок"), msg(6, True, 40, "лан"),
        msg(7, True, 40 + GAP + 1, "спишь?"),  # a new session opened by the owner
    ]
    built = build_dataset([ChatHistory(PRIVATE, messages)], options())
    first, second, third = sorted(built.examples, key=lambda e: e.date)
    assert first.reply.messages == ("норм", "а ты?")
    assert [t.messages for t in first.dialogue.turns] == [("привет", "как дела?")]
    assert second.reply.messages == ("лан",) and len(second.dialogue.turns) == 3  # short replies kept
    assert third.owner_initiated and third.dialogue.turns == ()
    dialogue = first.dialogue
    assert (dialogue.partner_name, dialogue.relationship, dialogue.is_group) == ("Anna", "friend", False)
    assert DialogueExample.from_json(first.to_json()) == first


def test_group_turns_carry_speaker_and_groups_are_opt_in():
    group = ChatRow(-5, "group", "Team")
    messages = [msg(1, False, 0, "hi", "Bob", chat_id=-5), msg(2, False, 5, "yo", "Eve", chat_id=-5),
                msg(3, True, 9, "hey all", chat_id=-5)]
    assert build_dataset([ChatHistory(group, messages)], options()).examples == []
    built = build_dataset([ChatHistory(group, messages)], options(train_groups=True))
    (example,) = built.examples
    assert [t.speaker for t in example.dialogue.turns] == ["Bob", "Eve"]
    assert example.dialogue.is_group and example.dialogue.partner_name is None
    assert chat_allowed(ChatRow(-5, "group", "Team", train=True), train_groups=False)
    assert not chat_allowed(ChatRow(1, "private", "A", train=False), train_groups=True)
    assert not chat_allowed(ChatRow(2, "channel", "News"), train_groups=True)


def _sessions(count: int, first_id: int = 0, start: int = 0, chat_id: int = 1) -> list[MessageRow]:
    """`count` sessions of two exchanges, a gap apart; ids from `first_id`, dates from `start`."""
    out = []
    for s in range(count):
        t, i = start + s * 2 * GAP, first_id + 4 * s
        out += [msg(i, False, t, f"q{s}", chat_id=chat_id), msg(i + 1, True, t + 1, f"a{s}", chat_id=chat_id),
                msg(i + 2, False, t + 2, f"q{s}b", chat_id=chat_id), msg(i + 3, True, t + 3, f"a{s}b", chat_id=chat_id)]
    return out


def _splits(built) -> dict[tuple[int, int], str]:
    return {(e.chat_id, e.reply.message_id): e.split for e in built.examples}


def test_heldout_sessions_stay_put_as_history_grows():
    history = _sessions(300)
    before = build_dataset([ChatHistory(PRIVATE, history)], options())
    held = [e for e in before.examples if e.split == "heldout"]
    assert 0.05 < len(held) / len(before.examples) < 0.15  # about HELDOUT_FRACTION, by session
    # a held-out session is held out whole, and none of its turns reaches a training sequence
    by_session = {}
    for e in before.examples:
        by_session.setdefault((e.reply.message_id or 0) // 4, set()).add(e.split)
    assert all(len(sides) == 1 for sides in by_session.values())
    trained = {t.message_id for c in before.conversations for t in c.dialogue.turns}
    assert trained and not trained & {e.reply.message_id for e in held}

    # more history: the last session goes on, newer sessions come, a second chat appears
    last = history[-1]
    grown = [*history, msg(5000, False, last.date + 60, "still there?"), msg(5001, True, last.date + 90, "yes"),
             *_sessions(100, first_id=6000, start=last.date + 2 * GAP)]
    other = ChatRow(2, "private", "Boris")
    after = build_dataset([ChatHistory(PRIVATE, grown), ChatHistory(other, _sessions(50, chat_id=2))], options())
    old, new = _splits(before), _splits(after)
    assert all(new[key] == side for key, side in old.items())
    assert {"train", "heldout"} <= {side for key, side in new.items() if key not in old}  # new data adds to both
    assert heldout_count(40) == 4 and heldout_count(1) == 0  # the time split the preference stage uses


def test_redaction_and_blocked_words_in_examples():
    messages = [msg(1, False, 0, "твой номер?"), msg(2, True, 5, "+7 (912) 345-67-89, пиши на a.b@mail.ru"),
                msg(3, False, 10, "секрет"), msg(4, True, 12, "ок")]
    built = build_dataset([ChatHistory(PRIVATE, messages)], options(redact_pii=True, blocked_words=("секрет",)))
    (example,) = built.examples
    assert example.reply.messages == ("[phone], пиши на [email]",)
    assert built.stats.redactions == {"phone": 1, "email": 1}
    assert built.stats.blocked == 1


def test_media_placeholders_kept_or_skipped():
    messages = [msg(1, False, 0, "смотри"), msg(2, False, 1, "", media="photo"), msg(3, True, 2, "", media="sticker")]
    kept = build_dataset([ChatHistory(PRIVATE, messages)], options(keep_media=True)).examples
    assert kept[0].dialogue.turns[0].messages == ("смотри", "[photo]") and kept[0].reply.messages == ("[sticker]",)
    assert build_dataset([ChatHistory(PRIVATE, messages)], options(keep_media=False)).examples == []
