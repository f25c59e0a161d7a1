"""The composition root: build storage, the model service, training, the schedule and the bot;
wire them; serve them through the face handed in (the panel, `admin_ui.server.PanelServer`); stop
them in reverse order. `tgtwin run`/`serve` call `run_product`.

The face is handed in rather than imported so the order holds (faces → application → domain →
storage): the application never imports a face. Nothing starts at import time, and every heavy
import is inside the functions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

from application.errors import StartupError

if TYPE_CHECKING:
    from services import ReplyModel, Services
    from settings import Settings
    from storage.training import Adapter
    from training.runs.controller import TrainingController

log = logging.getLogger("tgtwin")


class Face(Protocol):
    """What the product is served through (the panel and API). Its steps run in this order, so that
    what can refuse to start does so first and nothing holds the loop once Telegram must be
    answered: `bind` (StartupError when it cannot listen), `prepare` (slow imports, off the loop),
    `build` over the wired services, `serve` until stopped; `close` always, last."""

    def bind(self) -> None: ...

    def close(self) -> None: ...

    async def prepare(self) -> None: ...

    def build(self, services: Services) -> None: ...

    async def serve(self, stop: asyncio.Event | None) -> None: ...


async def run_product(
    settings: Settings, face: Face, *, with_telegram: bool, stop: asyncio.Event | None = None
) -> None:
    """Run everything until a signal arrives or `stop` is set; then stop it all gracefully, in
    reverse order. With nothing configured this is the offline demo.

    Start order: what can refuse to start goes first and costs nothing (the face's bind policy and
    port, the Telegram session lock), so such an error ends the process at once; then storage, the
    model, training and the schedule; then the face is prepared and built, all before the Telegram
    client connects: nothing holds the loop once it must answer Telegram's pings; last the face
    starts answering on the sockets it bound at the start.
    """
    from application.ingest import import_history
    from samples import SAMPLE_EXPORT
    from services import Services
    from storage import Database
    from storage import messages as message_queries
    from storage import training as training_queries
    from training.runs.controller import TrainingController
    from training.runs.promotion import PromotionWatcher
    from training.runs.reconcile import reconcile_runs
    from training.runs.schedule import RetrainSchedule

    face.bind()
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(face.close)
        live = stack.enter_context(_telegram_session(settings)) if with_telegram else False
        db = await stack.enter_async_context(Database.open(settings.db_path))
        await reconcile_runs(db, settings)
        if settings.demo and (await message_queries.counts(db)).messages == 0:
            result = await import_history(db, settings, SAMPLE_EXPORT)
            log.info("demo: imported the bundled sample (%s)", result)
        from training.data.language import history_language_warning

        if (language := await history_language_warning(db, settings)) is not None:
            log.warning("%s", language.message)
        model = await stack.enter_async_context(build_model(settings, await training_queries.promoted_adapter(db)))
        await stack.enter_async_context(PromotionWatcher(db, model))  # promotions made by the CLI reach the model
        services = Services(settings=settings, db=db, model=model)
        controller = await stack.enter_async_context(TrainingController(
            settings, model, on_training=getattr(model, "set_training_active", None)
        ))
        services.training = controller
        services.schedule = await stack.enter_async_context(RetrainSchedule(settings, controller))
        if settings.demo and not await training_queries.list_adapters(db) and not controller.is_running():
            demo = asyncio.create_task(_start_demo_training(model, controller), name="demo-training")
            stack.callback(demo.cancel)
        await face.prepare()
        face.build(services)
        if live:
            from bot.runtime import TelegramBot

            services.telegram = (await stack.enter_async_context(TelegramBot(services))).gateway
        await face.serve(stop)


async def _start_demo_training(model: ReplyModel, controller: TrainingController) -> None:
    """Train the demo adapter once the model service has loaded the base model, so the first start
    converts the bundled model once instead of twice at the same time."""
    wait_ready = getattr(model, "wait_ready", None)
    if wait_ready is not None:
        try:
            await wait_ready()
        except Exception as exc:  # the panel shows the model error; training would fail the same way
            log.warning("demo: not training (%s)", exc)
            return
    run_id = await controller.start_run("demo")
    log.info("demo: training run %s started in the background (see the panel's Training tab)", run_id)


def build_model(settings: Settings, promoted: Adapter | None) -> contextlib.AbstractAsyncContextManager[ReplyModel]:
    """The configured model backend serving the promoted adapter (None = the base model)."""
    adapter_dir = promoted.path if promoted is not None else None
    if settings.model_backend == "openai":
        from model.openai_backend import OpenAIBackend

        return OpenAIBackend(settings, adapter_dir=adapter_dir)
    from model.service import ModelService

    return ModelService(settings, adapter_dir=adapter_dir)


@contextlib.contextmanager
def _telegram_session(settings: Settings) -> Iterator[bool]:
    """Whether the live Telegram client will run (credentials and a session exist). While it may,
    this process holds the session lock, taken before anything slow starts: a second `run` stops
    at once with one line instead of after loading the model."""
    if not settings.telegram_configured:
        log.info("telegram: offline (set TGTWIN_API_ID/TGTWIN_API_HASH and run `login` to go live)")
        yield False
        return
    if not settings.session_path.exists():
        log.warning("telegram: no session yet; run `tgtwin login` first. Running offline.")
        yield False
        return
    from bot.session_lock import SessionInUse, hold_session

    with contextlib.ExitStack() as held:
        try:
            held.enter_context(hold_session(settings))
        except SessionInUse as exc:
            raise StartupError(str(exc)) from None
        yield True
