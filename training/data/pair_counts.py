"""The preference pair count the running app shows (`/api/status`, the dashboard), kept current
without rebuilding every pair for every request.

Rebuilding a pair is Python work over its draft's window of messages (`training.data.preference_pairs`
holds the one rule), so 10,000 drafts take seconds; when every status request rebuilt every pair,
ten panels asking at once took 23.7 s each at 1,400 drafts (issue 18 item 13). So a `PairCounter`:

- returns its last count while nothing was written since, and otherwise recounts once for all
  callers that ask meanwhile (`storage.derived.Derived`: single flight on `Database.data_version`);
- rebuilds only the drafts whose inputs changed since the last recount: the draft row, its chat
  row, or a day that its window of messages covers (`storage.preference.day_fingerprints`, read
  before any window is, so a write that lands during a recount is seen by the next one).

The CLI's one-off `status` counts with `preference_pair_counts` (no cache); a test holds the two
equal.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from settings import Settings
from storage import ChatRow, Database
from storage import chats as chat_queries
from storage import preference as preference_queries
from storage.derived import Derived
from storage.preference import DAY_SECONDS
from storage.replies import Draft
from training.data.dataset import chat_allowed
from training.data.preference_pairs import (
    CONTEXT_ROWS_PER_TURN,
    DraftWithMessages,
    PairKind,
    PairOptions,
    PreferencePairCounts,
    count_pairs,
    draft_items,
    pair_from_draft,
)


@dataclass(frozen=True, slots=True)
class _Noted:
    """What the last recount found for one draft, and the inputs it found it from."""

    draft: Draft
    chat: ChatRow
    first_day: int | None
    """The first day of its window of messages; None: the window reaches back to the chat's start."""
    last_day: int
    kind: PairKind | None

    @property
    def draft_id(self) -> int:
        return self.draft.id

    def touched_by(self, changed_days: list[int] | None) -> bool:
        """Whether a changed day (sorted; None: unknown, so any) falls inside the window."""
        if changed_days is None:
            return True
        first = 0 if self.first_day is None else bisect.bisect_left(changed_days, self.first_day)
        return first < len(changed_days) and changed_days[first] <= self.last_day


class PairCounter:
    """One database's preference pair count, recounted incrementally and one recount at a time.
    The database is passed to each call rather than held, so a cache keyed weakly on it can let it go."""

    def __init__(self, settings: Settings) -> None:
        self._options = PairOptions.from_settings(settings)
        self._noted: dict[int, _Noted] = {}
        self._days: dict[int, dict[int, tuple[int, ...]]] = {}
        self._counts = Derived(self._recount)

    async def counts(self, db: Database) -> PreferencePairCounts:
        """The counts as of this call or later (always for the same `db`)."""
        return await self._counts.get(db)

    async def _recount(self, db: Database) -> PreferencePairCounts:
        options = self._options
        drafts = await preference_queries.drafts_for_pairs(db)
        chats = await chat_queries.chats_by_id(db, {d.chat_id for d in drafts})
        kept: dict[int, _Noted] = {}
        stale: list[Draft] = []
        days = await preference_queries.day_fingerprints(db, await self._window_days(db, drafts, chats))
        changed = {chat_id: _changed_days(self._days.get(chat_id), found) for chat_id, found in days.items()}
        for draft in drafts:
            noted = self._noted.get(draft.id)
            if (noted is not None and noted.draft == draft and noted.chat == chats.get(draft.chat_id)
                    and not noted.touched_by(changed.get(draft.chat_id))):
                kept[draft.id] = noted
            else:
                stale.append(draft)
        async for items in draft_items(db, options, stale):
            for item in items:
                pair = pair_from_draft(item, options)
                kept[item.draft.id] = self._note(item, pair.kind if pair is not None else None)
        self._noted, self._days = kept, days
        return count_pairs([n for n in kept.values() if n.kind is not None], await preference_queries.used_draft_ids(db))

    async def _window_days(self, db: Database, drafts: list[Draft], chats: dict[int, ChatRow]) -> dict[int, int | None]:
        """Per chat with drafts, the first day any window there may cover (None: the chat's start):
        the earliest of the noted windows and of the window of its earliest draft not noted yet."""
        rows = self._options.context_turns * CONTEXT_ROWS_PER_TURN
        first_days: dict[int, list[int | None]] = {}
        earliest_new: dict[int, Draft] = {}
        for draft in drafts:
            chat = chats.get(draft.chat_id)
            if chat is None or not chat_allowed(chat, self._options.train_groups):
                continue  # no window to watch: the draft forms no pair
            noted = self._noted.get(draft.id)
            if noted is not None:
                first_days.setdefault(draft.chat_id, []).append(noted.first_day)
            elif draft.chat_id not in earliest_new or draft.created_at < earliest_new[draft.chat_id].created_at:
                earliest_new[draft.chat_id] = draft
        for chat_id, draft in earliest_new.items():
            start = await preference_queries.window_start(db, chat_id, draft.created_at, rows)
            first_days.setdefault(chat_id, []).append(None if start is None else start // DAY_SECONDS)
        return {chat_id: None if None in found else min(d for d in found if d is not None)
                for chat_id, found in first_days.items()}

    def _note(self, item: DraftWithMessages, kind: PairKind | None) -> _Noted:
        draft, rows = item.draft, self._options.context_turns * CONTEXT_ROWS_PER_TURN
        before = sum(1 for m in item.messages if m.date <= draft.created_at)
        first_day = item.messages[0].date // DAY_SECONDS if before >= rows else None
        last_day = (draft.created_at + self._options.own_reply_window_seconds) // DAY_SECONDS
        return _Noted(draft, item.chat, first_day, last_day, kind)


def _changed_days(before: dict[int, tuple[int, ...]] | None, now: dict[int, tuple[int, ...]]) -> list[int] | None:
    if before is None:
        return None
    return sorted(day for day in before.keys() | now.keys() if before.get(day) != now.get(day))
