"""The auto-reply pipeline: policy → debounce → generate → send or draft → reply log.

One path for `auto` and `draft`. Each chat has at most one task: it waits until the partner has
been quiet for `debounce_seconds` (typing counts as writing), then asks the policy again with the
whole burst (the owner may have taken over, or the mode changed, while we waited), generates one
reply for the burst, and sends it (with a typing pause that grows with its length) or drafts it.

Every incoming message ends up in the reply log exactly once: skipped at arrival (with the
policy's reason), folded into a burst ("debounced into message N"), or as the burst's trigger with
the final outcome (answered / drafted / skipped / error). A message Telegram delivers again (the
catch-up after a crash or a reconnect replays updates) is ignored once it is decided or in flight.

The pipeline knows nothing of kurigram: it talks to Telegram through `Outbox` and to time through
`Clock`, so tests and the load bench drive it with fakes and no real sleeping.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Protocol

from bot.context import chat_dialogue
from bot.policy import ChatActivity, Decision, IncomingMessage, PolicyConfig, ReplyPolicy
from bot.timing import DEFAULT_TIMING, Pace, Timing, load_timing
from memory import recalled_message_ids
from model.dialogue import join_messages
from services import ReplyModel
from settings import Settings
from storage import Database, NotFound, kv
from storage import chats as chat_queries
from storage import messages as message_queries
from storage import replies as reply_queries
from storage.rows import ReplyMode

log = logging.getLogger(__name__)

HOUR = 3600.0
# The pause before each sent message is the owner's learned pace (bot.timing), bounded by
# settings.pace_min_seconds / pace_max_seconds; "typing…" is refreshed while it lasts.
TYPING_REFRESH_SECONDS = 5.0  # Telegram shows "typing…" for about 5-6 s per action
SENT_IDS_REMEMBERED = 200  # per chat: to tell the bot's own outgoing messages from the owner's


class Clock(Protocol):
    def now(self) -> float:
        """Unix seconds."""

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class Outbox(Protocol):
    """What the pipeline needs from Telegram (implemented over kurigram in bot.runtime)."""

    async def send_typing(self, chat_id: int) -> None: ...

    async def send_text(self, chat_id: int, text: str) -> int:
        """Send one message as the owner (and store it); returns its id."""

    async def save_draft(self, chat_id: int, text: str) -> None: ...


@dataclass
class _ChatState:
    last_owner_activity: float | None = None
    bot_replies_since_owner: int = 0
    bot_reply_times: deque[float] = field(default_factory=lambda: deque(maxlen=256))
    bot_sent_ids: deque[int] = field(default_factory=lambda: deque(maxlen=SENT_IDS_REMEMBERED))
    pace: Pace | None = None
    burst: list[IncomingMessage] = field(default_factory=list)
    undecided: set[int] = field(default_factory=set)  # accepted into a burst, not yet in the reply log
    last_partner_activity: float = 0.0
    last_saved_draft: str | None = None
    task: asyncio.Task[None] | None = None

    def activity(self) -> ChatActivity:
        return ChatActivity(self.last_owner_activity, self.bot_replies_since_owner, tuple(self.bot_reply_times))


@dataclass(slots=True)
class _Outcome:
    decision: reply_queries.Decision
    reason: str
    sent_ids: list[int] = field(default_factory=list)
    memory_ids: list[int] | None = None
    """What memory recalled for the generated reply (ids only); None where nothing was generated."""


class ReplyPipeline:
    """Owns the per-chat reply state and tasks. Call `start()` first and `stop()` at the end."""

    def __init__(self, db: Database, settings: Settings, model: ReplyModel, outbox: Outbox, *,
                 clock: Clock | None = None, policy: ReplyPolicy | None = None,
                 rng: random.Random | None = None) -> None:
        self.db, self.settings, self.model, self.outbox = db, settings, model, outbox
        self.clock = clock or SystemClock()
        self.policy = policy or ReplyPolicy(PolicyConfig.from_settings(settings))
        self.rng = rng or random.Random()
        self._timing: tuple[Timing, dict[int, Timing]] = (DEFAULT_TIMING, {})
        self._chats: dict[int, _ChatState] = {}
        self._global_reply_times: deque[float] = deque(maxlen=4096)
        self._stopping = False

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Reload the last hour's automatic replies, so a restart doesn't reset the rate limits,
        and learn the owner's pace from the stored history."""
        self._timing = await load_timing(self.db, self.settings.session_gap_minutes * 60.0)
        since = int(self.clock.now() - HOUR)
        for entry in await reply_queries.list_decisions(self.db, since=since, limit=4096):
            if entry.decision == "answered":
                self._global_reply_times.append(float(entry.created_at))

    async def stop(self) -> None:
        """Cancel waiting bursts; their messages are logged as skipped so none goes unaccounted."""
        self._stopping = True
        tasks = [s.task for s in self._chats.values() if s.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for chat_id, state in self._chats.items():
            if state.burst:
                burst, state.burst = state.burst, []
                await self._log(chat_id, [(m.message_id, _Outcome("skipped", "shut down before replying"))
                                          for m in burst])

    @property
    def chats_in_flight(self) -> int:
        """Chats with a burst waiting for its debounce or being answered."""
        return sum(1 for s in self._chats.values() if s.task is not None)

    async def idle(self) -> None:
        """Wait until no chat has a burst in flight (tests and the load bench)."""
        while True:
            tasks = [s.task for s in self._chats.values() if s.task is not None]
            if not tasks:
                return
            await asyncio.gather(*tasks, return_exceptions=True)

    # ------------------------------------------------------------------ events from the bot
    async def on_incoming(self, message: IncomingMessage) -> None:
        """A new message from someone else, already stored by live sync."""
        state = await self._state(message.chat_id)
        if message.message_id in state.undecided or await reply_queries.is_decided(
                self.db, message.chat_id, message.message_id):
            log.info("reply: chat %s message %s delivered again; already decided", message.chat_id, message.message_id)
            return
        decision = await self._decide(message, state)
        if not decision.replies or self._stopping:
            reason = decision.reason if not self._stopping else "shutting down"
            await self._log(message.chat_id, [(message.message_id, _Outcome("skipped", reason))])
            return
        state.burst.append(message)
        state.undecided.add(message.message_id)
        state.last_partner_activity = self.clock.now()
        if state.task is None:
            state.task = asyncio.create_task(self._run_chat(message.chat_id, state),
                                             name=f"reply-chat-{message.chat_id}")

    async def on_owner_activity(self, chat_id: int, when: float | None = None) -> None:
        """The owner wrote, edited a draft or typed in this chat: take over, reset the loop guard.
        `when`: the time of the owner's act if it is older than now (a message from the catch-up)."""
        state = await self._state(chat_id)
        now = self.clock.now()
        at = now if when is None else min(when, now)
        if state.last_owner_activity is None or at > state.last_owner_activity:
            state.last_owner_activity = at
        state.bot_replies_since_owner = 0

    async def on_outgoing(self, chat_id: int, message_id: int, when: float | None = None) -> None:
        """An outgoing message seen by live sync: the owner's, unless the bot just sent it."""
        state = await self._state(chat_id)
        if message_id not in state.bot_sent_ids:
            await self.on_owner_activity(chat_id, when)

    async def on_owner_draft(self, chat_id: int, text: str) -> None:
        """The owner's input box changed (drafts sync across devices): typing, unless it is ours."""
        state = await self._state(chat_id)
        if text.strip() and text != state.last_saved_draft:
            await self.on_owner_activity(chat_id)

    def on_partner_typing(self, chat_id: int) -> None:
        """The partner is still writing: push the burst's debounce deadline back."""
        state = self._chats.get(chat_id)
        if state is not None and state.burst:
            state.last_partner_activity = self.clock.now()

    # ------------------------------------------------------------------ internals
    async def _state(self, chat_id: int) -> _ChatState:
        state = self._chats.get(chat_id)
        if state is None:
            state = await self._load_state(chat_id)
            state = self._chats.setdefault(chat_id, state)
        return state

    async def _load_state(self, chat_id: int) -> _ChatState:
        """Rebuild a chat's loop-guard and rate state from the reply log and stored messages."""
        global_timing, per_chat = self._timing
        state = _ChatState(pace=Pace(per_chat.get(chat_id, global_timing),
                                     self.settings.pace_min_seconds, self.settings.pace_max_seconds))
        decisions = await reply_queries.list_decisions(self.db, chat_id=chat_id, limit=SENT_IDS_REMEMBERED)
        answered = [d for d in reversed(decisions) if d.decision == "answered"]
        for entry in answered:
            state.bot_sent_ids.extend(entry.sent_message_ids)
        recent = await message_queries.recent_messages(self.db, chat_id, 50)
        bot_ids = set(state.bot_sent_ids)
        owner_dates = [m.date for m in recent if m.outgoing and m.message_id not in bot_ids]
        last_owner = max(owner_dates) if owner_dates else None
        state.last_owner_activity = float(last_owner) if last_owner is not None else None
        state.bot_replies_since_owner = sum(1 for e in answered if last_owner is None or e.created_at > last_owner)
        now = self.clock.now()
        state.bot_reply_times.extend(float(e.created_at) for e in answered if now - e.created_at < HOUR)
        return state

    async def _mode(self, chat_id: int) -> ReplyMode:
        """Read live from the database, so the panel's whitelist changes apply at once."""
        try:
            return (await chat_queries.get_chat(self.db, chat_id)).reply_mode
        except NotFound:
            return "off"

    async def _decide(self, message: IncomingMessage, state: _ChatState) -> Decision:
        enabled = await kv.autoreply_enabled(self.db)
        mode = await self._mode(message.chat_id)
        now = self.clock.now()
        while self._global_reply_times and now - self._global_reply_times[0] >= HOUR:
            self._global_reply_times.popleft()
        return self.policy.decide(message, enabled=enabled, mode=mode, activity=state.activity(),
                                  global_reply_times=tuple(self._global_reply_times), now=now)

    async def _run_chat(self, chat_id: int, state: _ChatState) -> None:
        try:
            while state.burst:
                await self._debounce(state)
                burst, state.burst = state.burst, []
                trigger = burst[-1]
                try:
                    outcome = await self._answer(chat_id, state, burst)
                except asyncio.CancelledError:
                    state.burst = burst + state.burst  # stop() logs them
                    raise
                except Exception as exc:  # a failed reply must never stop the others
                    log.exception("reply failed: chat %s message %s", chat_id, trigger.message_id)
                    outcome = _Outcome("error", f"error: {type(exc).__name__}")
                folded = [(m.message_id, _Outcome("skipped", f"debounced into message {trigger.message_id}"))
                          for m in burst[:-1]]
                await self._log(chat_id, [*folded, (trigger.message_id, outcome)])
        finally:
            state.task = None

    async def _debounce(self, state: _ChatState) -> None:
        while True:
            wait = state.last_partner_activity + self.settings.debounce_seconds - self.clock.now()
            if wait <= 0:
                return
            await self.clock.sleep(wait)

    async def _answer(self, chat_id: int, state: _ChatState, burst: list[IncomingMessage]) -> _Outcome:
        combined = replace(burst[-1], text="\n".join(m.text for m in burst),
                           has_media=any(m.has_media for m in burst))
        decision = await self._decide(combined, state)
        if not decision.replies:
            return _Outcome("skipped", decision.reason)
        owner_mark = state.last_owner_activity
        dialogue = await chat_dialogue(self.db, self.settings, chat_id)
        if not dialogue.turns or dialogue.turns[-1].role != "partner":
            return _Outcome("skipped", "nothing to answer in the stored context")
        chosen = await asyncio.wait_for(self.model.candidates(dialogue, 1), timeout=self.settings.generation_timeout_s)
        memory_ids = recalled_message_ids(chosen.memory)  # what the prompt held, after the cut to the window
        outcome = await self._deliver(chat_id, state, burst, chosen.replies[0], decision, owner_mark, memory_ids)
        return replace(outcome, memory_ids=memory_ids)

    async def _deliver(self, chat_id: int, state: _ChatState, burst: list[IncomingMessage], parts: list[str],
                       decision: Decision, owner_mark: float | None, memory_ids: list[int]) -> _Outcome:
        parts = [p.strip() for p in parts if p and p.strip()]
        if not parts:
            return _Outcome("skipped", "model returned an empty reply")
        if state.last_owner_activity != owner_mark:
            return _Outcome("skipped", "owner takeover while generating")
        if decision.action == "draft":
            return await self._draft(chat_id, state, burst[-1].message_id, parts, decision.reason, memory_ids)
        return await self._send(chat_id, state, parts, owner_mark, decision.reason)

    async def _draft(self, chat_id: int, state: _ChatState, trigger_id: int, parts: list[str], reason: str,
                     memory_ids: list[int]) -> _Outcome:
        async with self.db.atomic():
            await reply_queries.create_draft(self.db, chat_id, join_messages(parts), trigger_id, memory_ids)
        box_text = "\n".join(parts)
        state.last_saved_draft = box_text
        await self.outbox.save_draft(chat_id, box_text)
        return _Outcome("drafted", reason)

    async def _send(self, chat_id: int, state: _ChatState, parts: list[str], owner_mark: float | None,
                    reason: str) -> _Outcome:
        sent: list[int] = []
        for index, part in enumerate(parts):
            await self._type(chat_id, state, part, first=index == 0)
            if state.last_owner_activity != owner_mark:
                break  # the owner started writing while we were "typing": leave the rest to them
            message_id = await self.outbox.send_text(chat_id, part)
            state.bot_sent_ids.append(message_id)
            sent.append(message_id)
        if not sent:
            return _Outcome("skipped", "owner takeover while typing")
        now = self.clock.now()
        state.bot_reply_times.append(now)
        state.bot_replies_since_owner += 1
        self._global_reply_times.append(now)
        if len(sent) < len(parts):
            reason = f"{reason}; owner took over after {len(sent)} of {len(parts)} messages"
        return _Outcome("answered", reason, sent)

    async def _type(self, chat_id: int, state: _ChatState, text: str, *, first: bool) -> None:
        assert state.pace is not None
        already_waited = self.clock.now() - state.last_partner_activity
        remaining = state.pace.pause(text, first=first, already_waited=already_waited, rng=self.rng)
        while remaining > 0:
            await self.outbox.send_typing(chat_id)
            step = min(remaining, TYPING_REFRESH_SECONDS)
            await self.clock.sleep(step)
            remaining -= step

    async def _log(self, chat_id: int, entries: list[tuple[int, _Outcome]]) -> None:
        async with self.db.atomic():
            logged = [await reply_queries.log_first_decision(self.db, chat_id, message_id, outcome.decision,
                                                             outcome.reason, outcome.sent_ids, outcome.memory_ids)
                      for message_id, outcome in entries]
        state = self._chats.get(chat_id)
        for (message_id, outcome), written in zip(entries, logged, strict=True):
            if state is not None:
                state.undecided.discard(message_id)
            if written:
                recalled = "" if outcome.memory_ids is None else f"; memory: {len(outcome.memory_ids)} messages"
                log.info("reply: chat %s message %s → %s (%s%s)", chat_id, message_id, outcome.decision,
                         outcome.reason, recalled)
