"""The one status snapshot: counts and state that `tgtwin status`, `GET /api/status` and the
panel's dashboard all show, computed here and only here (so they cannot disagree)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from settings import Settings
from storage import Database, kv
from storage import chats as chat_queries
from storage import messages as message_queries
from storage import replies as reply_queries
from storage import training as training_queries
from storage.derived import Derived

if TYPE_CHECKING:
    from model.status import ModelStatus
    from services import RetrainScheduleView, TrainingController
    from training.data.coverage import Coverage
    from training.data.pair_counts import PairCounter
    from training.data.preference_pairs import PreferencePairCounts


@dataclass(frozen=True, slots=True)
class StatusCounts:
    chats: int
    messages: int
    """Stored, not deleted; service messages are not stored, media placeholders are."""
    owner_messages: int
    pending_drafts: int
    auto_chats: int
    draft_chats: int
    adapters: int


@dataclass(frozen=True, slots=True)
class LastRun:
    id: int
    status: str
    progress: float
    adapter_id: str | None
    started_at: int
    finished_at: int | None
    error: str | None


@dataclass(frozen=True, slots=True)
class TelegramState:
    configured: bool
    connected: bool


@dataclass(frozen=True, slots=True)
class TrainingState:
    available: bool
    """Whether this process can start runs (the running app can; the CLI's `status` cannot)."""
    running: bool
    last_run: LastRun | None
    processes: int
    """Processes a run starts with (`settings.train_processes`; more than one = torchrun)."""


@dataclass(frozen=True, slots=True)
class SchedulerState:
    cron: str | None
    interval_hours: float | None
    min_new_messages: int
    enabled: bool
    next_run: str | None
    """ISO time of the next check; None when no schedule runs in this process."""


@dataclass(frozen=True, slots=True)
class StatusSnapshot:
    counts: StatusCounts
    autoreply_enabled: bool
    adapter: str | None
    """The promoted adapter's id (None = the base model is served)."""
    owner_id: int | None
    telegram: TelegramState
    training: TrainingState
    scheduler: SchedulerState
    model: ModelStatus | None
    """The model backend's own status; None where no model runs (the CLI)."""
    database: str
    preference_pairs: PreferencePairCounts
    """Preference pairs the owner's drafts give (`training.data.preference_pairs`): total, and those no run used."""
    coverage: Coverage | None = None
    """How much of the training history the adapter the next run continues has learned
    (`training.data.coverage`), and what a full pass still needs; `collect_status` always fills it."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, nested like the dataclasses (the API's `StatusOut`, `status --json`)."""
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True)
class _Stored:
    """What the status reads from the database."""

    counts: StatusCounts
    autoreply_enabled: bool
    adapter: str | None
    owner_id: int | None
    last_run: LastRun | None
    preference_pairs: PreferencePairCounts


async def _read_stored(db: Database, settings: Settings, pair_counter: PairCounter | None) -> _Stored:
    from training.data.preference_pairs import preference_pair_counts

    counts = await message_queries.counts(db)
    modes = await chat_queries.list_reply_chats(db)
    promoted = await training_queries.promoted_adapter(db)
    runs = await training_queries.list_runs(db, limit=1)
    owner_id = await kv.get_value(db, kv.OWNER_ID)
    return _Stored(
        counts=StatusCounts(
            chats=counts.chats, messages=counts.messages, owner_messages=counts.owner_messages,
            pending_drafts=await reply_queries.count_drafts(db, "pending"),
            auto_chats=sum(1 for mode in modes.values() if mode == "auto"),
            draft_chats=sum(1 for mode in modes.values() if mode == "draft"),
            adapters=len(await training_queries.list_adapters(db)),
        ),
        autoreply_enabled=await kv.autoreply_enabled(db),
        adapter=promoted.id if promoted else None,
        owner_id=owner_id if isinstance(owner_id, int) else None,
        last_run=None if not runs else LastRun(
            runs[0].id, runs[0].status, runs[0].progress, runs[0].adapter_id,
            runs[0].started_at, runs[0].finished_at, runs[0].error,
        ),
        preference_pairs=(await pair_counter.counts(db) if pair_counter is not None
                          else await preference_pair_counts(db, settings)),
    )


class StatusFigures:
    """What the status reads from the database, kept per database by the running app, where every
    open panel polls `/api/status`: read again only after a write, once for all the callers that
    ask meanwhile (`storage.derived`), the preference pairs recounted incrementally
    (`training.data.pair_counts`, also for the panel's training tab)."""

    def __init__(self, settings: Settings) -> None:
        from training.data.pair_counts import PairCounter

        self.pairs = PairCounter(settings)
        self.stored: Derived[_Stored] = Derived(lambda db: _read_stored(db, settings, self.pairs))


async def collect_status(
    db: Database,
    settings: Settings,
    *,
    model: ModelStatus | None = None,
    training: TrainingController | None = None,
    telegram_connected: bool = False,
    schedule: RetrainScheduleView | None = None,
    figures: StatusFigures | None = None,
) -> StatusSnapshot:
    """Everything `StatusSnapshot` holds, read from the database plus what the caller runs.
    `figures`: the running app's kept figures (`StatusFigures`); without them (the CLI's one-off
    `status`) everything is read and counted here, in full."""
    from training.data.coverage import cached_coverage

    stored = await figures.stored.get(db) if figures is not None else await _read_stored(db, settings, None)
    next_run = schedule.next_run_time if schedule is not None else None
    last_run = stored.last_run
    return StatusSnapshot(
        counts=stored.counts,
        autoreply_enabled=stored.autoreply_enabled,
        adapter=stored.adapter,
        owner_id=stored.owner_id,
        telegram=TelegramState(configured=settings.telegram_configured, connected=telegram_connected),
        training=TrainingState(
            available=training is not None,
            running=bool(training is not None and training.is_running())
            or (last_run is not None and last_run.status == "running"),
            last_run=last_run,
            processes=settings.train_processes,
        ),
        scheduler=SchedulerState(
            cron=settings.retrain_cron or None,
            interval_hours=settings.retrain_interval_hours or None,
            min_new_messages=settings.retrain_min_new_messages,
            enabled=bool(settings.retrain_cron or settings.retrain_interval_hours),
            next_run=next_run.isoformat() if next_run is not None else None,
        ),
        model=model,
        database=str(settings.db_path),
        preference_pairs=stored.preference_pairs,
        coverage=await cached_coverage(db, settings),
    )


async def stored_status(settings: Settings) -> StatusSnapshot:
    """The status from the database alone, for a process that runs nothing (the CLI's `status`):
    dead runs are reconciled first, so a run whose worker died shows as failed."""
    from training.runs.reconcile import reconcile_runs

    async with Database.open(settings.db_path) as db:
        await reconcile_runs(db, settings)
        return await collect_status(db, settings)
