"""Every ReplyPolicy rule, on plain data (no client, no database)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest

from bot.policy import ChatActivity, IncomingMessage, PolicyConfig, ReplyPolicy, in_quiet_hours
from settings import Settings

NOON_UTC = datetime(2026, 11, 29, 12, 0, tzinfo=ZoneInfo("UTC")).timestamp()
CONFIG = PolicyConfig(
    takeover_seconds=15 * 60, quiet_hours=None, timezone=ZoneInfo("UTC"), rate_per_chat_per_hour=3,
    rate_global_per_hour=5, loop_guard_replies=2, escalation_keywords=("money", "пароль"),
)
MESSAGE = IncomingMessage(chat_id=5, message_id=1, chat_type="private", text="how are you?")


def decide(message: IncomingMessage = MESSAGE, *, config: PolicyConfig = CONFIG, enabled: bool = True,
           mode: str = "auto", activity: ChatActivity = ChatActivity(), global_times: tuple[float, ...] = (),
           now: float = NOON_UTC):
    return ReplyPolicy(config).decide(message, enabled=enabled, mode=mode, activity=activity,  # type: ignore[arg-type]
                                      global_reply_times=global_times, now=now)


def test_whitelisted_auto_chat_is_answered() -> None:
    decision = decide()
    assert decision.action == "answer" and decision.replies


def test_kill_switch_beats_everything() -> None:
    assert decide(enabled=False).action == "skip"
    assert "globally" in decide(enabled=False).reason


@pytest.mark.parametrize("chat_type", ["private", "group", "supergroup", "channel"])
def test_not_whitelisted_is_never_answered(chat_type: str) -> None:
    decision = decide(replace(MESSAGE, chat_type=chat_type), mode="off")  # type: ignore[arg-type]
    assert decision.action == "skip" and "whitelisted" in decision.reason


@pytest.mark.parametrize("chat_type", ["group", "supergroup"])
def test_listed_group_is_answered(chat_type: str) -> None:
    assert decide(replace(MESSAGE, chat_type=chat_type)).action == "answer"  # type: ignore[arg-type]


@pytest.mark.parametrize("change, reason", [
    ({"service": True}, "service"),
    ({"outgoing": True}, "own message"),
    ({"chat_type": "self"}, "Saved Messages"),
    ({"chat_type": "bot"}, "bot"),
    ({"from_bot": True}, "bot"),
    ({"forwarded": True}, "forwarded"),
    ({"text": "  "}, "empty"),
])
def test_messages_never_answered(change: dict, reason: str) -> None:
    for mode in ("auto", "draft"):
        decision = decide(replace(MESSAGE, **change), mode=mode)
        assert decision.action == "skip" and reason in decision.reason


def test_media_without_text_can_be_answered() -> None:
    assert decide(replace(MESSAGE, text="", has_media=True)).action == "answer"


def test_owner_takeover_silences_both_modes() -> None:
    recent = ChatActivity(last_owner_activity=NOON_UTC - 60)
    for mode in ("auto", "draft"):
        decision = decide(mode=mode, activity=recent)
        assert decision.action == "skip" and "takeover" in decision.reason
    assert decide(activity=ChatActivity(last_owner_activity=NOON_UTC - 16 * 60)).action == "answer"


def test_draft_mode_drafts() -> None:
    assert decide(mode="draft").action == "draft"


def test_per_chat_rate_limit() -> None:
    busy = ChatActivity(bot_reply_times=(NOON_UTC - 10, NOON_UTC - 20, NOON_UTC - 30))
    decision = decide(activity=busy)
    assert decision.action == "skip" and "this chat" in decision.reason
    old = ChatActivity(bot_reply_times=(NOON_UTC - 4000,) * 3)
    assert decide(activity=old).action == "answer"


def test_global_rate_limit() -> None:
    decision = decide(global_times=(NOON_UTC - 5,) * 5)
    assert decision.action == "skip" and "all chats" in decision.reason


def test_zero_rate_means_never_auto() -> None:
    assert decide(config=replace(CONFIG, rate_per_chat_per_hour=0)).action == "skip"


def test_quiet_hours_draft_instead_of_send() -> None:
    night = replace(CONFIG, quiet_hours=(time(23, 0), time(8, 0)), timezone=ZoneInfo("Europe/Moscow"))
    at_2am_moscow = datetime(2026, 11, 29, 2, 0, tzinfo=ZoneInfo("Europe/Moscow")).timestamp()
    decision = decide(config=night, now=at_2am_moscow)
    assert decision.action == "draft" and "quiet" in decision.reason
    assert decide(config=night).action == "answer"  # noon UTC is 15:00 in Moscow


def test_quiet_hours_ranges() -> None:
    assert in_quiet_hours(time(23, 30), (time(23, 0), time(8, 0)))
    assert in_quiet_hours(time(7, 59), (time(23, 0), time(8, 0)))
    assert not in_quiet_hours(time(8, 0), (time(23, 0), time(8, 0)))
    assert in_quiet_hours(time(13, 0), (time(12, 0), time(14, 0)))
    assert not in_quiet_hours(time(15, 0), (time(12, 0), time(14, 0)))
    assert not in_quiet_hours(time(15, 0), None)


def test_loop_guard_falls_back_to_draft() -> None:
    decision = decide(activity=ChatActivity(bot_replies_since_owner=2))
    assert decision.action == "draft" and "loop guard" in decision.reason
    assert decide(activity=ChatActivity(bot_replies_since_owner=1)).action == "answer"


@pytest.mark.parametrize("text", ["send me MONEY please", "какой пароль?"])
def test_escalation_keywords_draft(text: str) -> None:
    decision = decide(replace(MESSAGE, text=text))
    assert decision.action == "draft" and "escalation" in decision.reason


def test_config_from_settings(settings: Settings) -> None:
    config = PolicyConfig.from_settings(settings.model_copy(update={"quiet_hours": "22:30-07:00",
                                                                    "takeover_minutes": 5}))
    assert config.takeover_seconds == 300
    assert config.quiet_hours == (time(22, 30), time(7, 0))
    assert "пароль" in config.escalation_keywords


@pytest.mark.parametrize("mode, expected", [("draft", "draft"), ("skip", "skip")])
def test_backlog_older_than_the_limit_is_never_answered(mode: str, expected: str) -> None:
    config = replace(CONFIG, backlog_answer_seconds=600, backlog_mode=mode)  # type: ignore[arg-type]
    stale = replace(MESSAGE, date=NOON_UTC - 601)
    decision = decide(stale, config=config)
    assert decision.action == expected and "backlog" in decision.reason
    assert decide(replace(MESSAGE, date=NOON_UTC - 599), config=config).action == "answer"
    assert decide(stale, config=config, mode="off").action == "skip"  # the whitelist still comes first
