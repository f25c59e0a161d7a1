"""Whether and how to answer a message: every "should we answer?" rule, in one pure object.

No I/O, no clock: the caller passes the facts (the message, the chat's mode, what the owner and the
bot did recently, the time) and gets a `Decision` with a reason for the reply log. Rules, in order:

1. global kill switch off            → skip
2. chat mode `off` (not whitelisted)  → skip   (every chat starts `off`; groups too)
3. service / own / Saved Messages / bot / forwarded-only message → skip
4. owner takeover: the owner wrote or typed in this chat within `takeover_seconds` → skip
5. backlog: the message is older than `backlog_answer_seconds` (it arrived while `run` was stopped
   and came in with the catch-up) → `backlog_mode` (draft or skip); a stale reply is never sent
6. mode `draft`                       → draft
7. (mode `auto` from here) per-chat / global hourly rate limit reached → skip
8. quiet hours                        → draft (the owner finds it in the morning; nothing is sent)
9. loop guard: `loop_guard_replies` bot replies with no owner message since → draft
10. an escalation keyword in the text  → draft
11. otherwise                         → answer
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time
from typing import Literal
from zoneinfo import ZoneInfo

from settings import Settings, parse_quiet_hours
from storage.rows import ChatType, ReplyMode

Action = Literal["answer", "draft", "skip"]
HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    """The policy's knobs, from Settings."""

    takeover_seconds: float
    """Owner wrote/typed this recently → stay silent."""
    quiet_hours: tuple[time, time] | None
    """Local time range (may wrap midnight) with no automatic sending."""
    timezone: ZoneInfo
    rate_per_chat_per_hour: int
    rate_global_per_hour: int
    loop_guard_replies: int
    """After this many bot replies without an owner message, fall back to draft."""
    escalation_keywords: tuple[str, ...]
    """Lower-cased substrings that send the reply to draft."""
    backlog_answer_seconds: float = 600.0
    """Messages older than this when they are decided on were missed while stopped."""
    backlog_mode: Literal["draft", "skip"] = "draft"

    @classmethod
    def from_settings(cls, settings: Settings) -> "PolicyConfig":
        return cls(
            takeover_seconds=settings.takeover_minutes * 60.0,
            quiet_hours=parse_quiet_hours(settings.quiet_hours),
            timezone=ZoneInfo(settings.timezone),
            rate_per_chat_per_hour=settings.rate_per_chat_per_hour,
            rate_global_per_hour=settings.rate_global_per_hour,
            loop_guard_replies=settings.loop_guard_replies,
            escalation_keywords=tuple(k.lower() for k in settings.escalation_keywords if k.strip()),
            backlog_answer_seconds=settings.backlog_answer_minutes * 60.0,
            backlog_mode=settings.backlog_mode,
        )


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """What the policy needs to know about a message (built from kurigram's Message by the bot)."""

    chat_id: int
    message_id: int
    chat_type: ChatType
    text: str
    outgoing: bool = False
    from_bot: bool = False
    service: bool = False
    forwarded: bool = False
    has_media: bool = False
    date: float | None = None
    """When it was sent (unix seconds); None = now."""


@dataclass(frozen=True, slots=True)
class ChatActivity:
    """Recent history of one chat, as the pipeline tracks it. Times are unix seconds."""

    last_owner_activity: float | None = None
    """Last time the owner (not the bot) wrote, typed or edited a draft here."""
    bot_replies_since_owner: int = 0
    bot_reply_times: tuple[float, ...] = ()
    """When the bot answered here (the last hour is enough)."""


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    reason: str

    @property
    def replies(self) -> bool:
        return self.action != "skip"


def _recent(times: Sequence[float], now: float) -> int:
    return sum(1 for t in times if now - t < HOUR)


def in_quiet_hours(local: time, quiet: tuple[time, time] | None) -> bool:
    if quiet is None:
        return False
    start, end = quiet
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end  # wraps midnight


class ReplyPolicy:
    """Pure decision rules; see the module docstring for the order."""

    def __init__(self, config: PolicyConfig) -> None:
        self.config = config

    def decide(
        self,
        message: IncomingMessage,
        *,
        enabled: bool,
        mode: ReplyMode,
        activity: ChatActivity,
        global_reply_times: Sequence[float],
        now: float,
    ) -> Decision:
        cfg = self.config
        if not enabled:
            return Decision("skip", "auto-reply is switched off globally")
        if mode == "off":
            return Decision("skip", "chat is not whitelisted (mode off)")
        if message.service:
            return Decision("skip", "service message")
        if message.outgoing or message.chat_type == "self":
            return Decision("skip", "own message / Saved Messages")
        if message.chat_type == "bot" or message.from_bot:
            return Decision("skip", "sender is a bot")
        if message.forwarded:
            return Decision("skip", "forwarded message")
        if not message.text.strip() and not message.has_media:
            return Decision("skip", "empty message")
        if activity.last_owner_activity is not None and now - activity.last_owner_activity < cfg.takeover_seconds:
            minutes = (now - activity.last_owner_activity) / 60
            return Decision("skip", f"owner takeover: owner active {minutes:.0f} min ago")
        if message.date is not None and now - message.date > cfg.backlog_answer_seconds:
            minutes = (now - message.date) / 60
            reason = f"backlog: message {minutes:.0f} min old (arrived while stopped)"
            if cfg.backlog_mode == "skip":
                return Decision("skip", reason)
            return Decision("draft", reason)
        if mode == "draft":
            return Decision("draft", "chat mode is draft")
        if cfg.rate_per_chat_per_hour == 0 or _recent(activity.bot_reply_times, now) >= cfg.rate_per_chat_per_hour:
            return Decision("skip", f"rate limit: {cfg.rate_per_chat_per_hour} replies/hour in this chat")
        if cfg.rate_global_per_hour == 0 or _recent(global_reply_times, now) >= cfg.rate_global_per_hour:
            return Decision("skip", f"rate limit: {cfg.rate_global_per_hour} replies/hour in all chats")
        local = datetime.fromtimestamp(now, cfg.timezone).time()
        if in_quiet_hours(local, cfg.quiet_hours):
            return Decision("draft", "quiet hours: drafted instead of sending")
        if activity.bot_replies_since_owner >= cfg.loop_guard_replies:
            return Decision("draft", f"loop guard: {activity.bot_replies_since_owner} bot replies without the owner")
        lowered = message.text.lower()
        hit = next((k for k in cfg.escalation_keywords if k in lowered), None)
        if hit is not None:
            return Decision("draft", f"escalation keyword {hit!r}")
        return Decision("answer", "auto mode, all checks passed")
