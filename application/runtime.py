"""The composition root: build storage, the model service, training, the schedule, the bot and the
panel; wire them; run them; stop them in reverse order. `tgtwin run`/`serve` call `run_product`.

Nothing starts at import time, and every heavy import is inside the functions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services import ReplyModel
    from settings import Settings
    from storage.training import Adapter
    from training.controller import TrainingController

log = logging.getLogger("tgtwin")

SAMPLE_EXPORT = Path(__file__).resolve().parent / "samples" / "sample_export.json"


class StartupError(Exception):
    """The product cannot start with this configuration (message says why)."""


async def run_product(settings: Settings, with_telegram: bool, stop: asyncio.Event | None = None) -> None:
    """Run everything until a signal arrives or `stop` is set; then stop it all gracefully, in
    reverse order. With nothing configured this is the offline demo.

    Start order: what can refuse to start goes first and costs nothing (bind policy, the panel's
    port, the Telegram session lock), so such an error ends the process at once; then storage, the
    model, training and the schedule; then the panel app (Gradio imported in a thread, built on the
    loop), all before the Telegram client connects: nothing holds the loop once it must answer
    Telegram's pings; last the server starts answering on the sockets bound at the start.
    """
    from admin_ui.app import create_app, import_panel
    from admin_ui.auth import BindRefused, check_bind_allowed, resolve_admin_token
    from admin_ui.server import PanelPortUnavailable, announce_panel, bind_panel, close_sockets, serve
    from services import Services
    from storage import Database
    from storage import messages as message_queries
    from storage import training as training_queries
    from training.controller import TrainingController
    from training.promotion import PromotionWatcher
    from training.reconcile import reconcile_runs
    from training.schedule import RetrainSchedule

    try:
        check_bind_allowed(settings.host, settings.admin_token is not None)
        sockets = bind_panel(settings.host, settings.port)
    except (BindRefused, PanelPortUnavailable) as exc:
        raise StartupError(str(exc)) from None
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(close_sockets, sockets)
        live = stack.enter_context(_telegram_session(settings)) if with_telegram else False
        db = await stack.enter_async_context(Database.open(settings.db_path))
        await reconcile_runs(db, settings)
        if settings.demo and (await message_queries.counts(db)).messages == 0:
            from telegram_export import import_export

            result = await import_export(db, SAMPLE_EXPORT, allowed_service_chats=settings.allowed_service_chats)
            log.info("demo: imported the bundled sample (%s)", result)
        from training.language import history_language_warning

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
        token, generated = resolve_admin_token(settings)
        await asyncio.to_thread(import_panel)
        app = create_app(services, token)
        if live:
            from bot.runtime import TelegramBot

            services.telegram = (await stack.enter_async_context(TelegramBot(services))).gateway
        announce_panel(settings.host, settings.port, token, generated)
        await serve(app, settings.host, settings.port, stop, sockets=sockets)


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
