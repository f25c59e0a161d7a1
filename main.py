"""tgtwin — the one CLI entry and the composition root.

Every command is a thin call into a package. Heavy imports (torch, transformers, pyrogram,
gradio) happen inside the commands, so `--help` is instant.
"""

from __future__ import annotations

import contextlib
import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from cli_support import AppState, fail, state

if TYPE_CHECKING:
    from services import ReplyModel, Services
    from training.controller import TrainingController
    from settings import Settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help="tgtwin: a Telegram userbot that replies as you.")

# Packages contribute their commands through `register(app)` in their cli module.
COMMAND_MODULES = ("bot.cli", "model.cli", "training.cli", "admin_ui.cli", "cli_core")


@app.callback()
def _root(
    ctx: typer.Context,
    data_dir: Annotated[Optional[Path], typer.Option(help="Override TGTWIN_DATA_DIR.")] = None,
) -> None:
    """Build settings and logging once; commands get them from the context."""
    from settings import SettingsError, load_settings
    from logging_setup import configure_logging

    overrides = {"data_dir": data_dir} if data_dir is not None else {}
    try:
        settings = load_settings(**overrides)
    except SettingsError as exc:
        fail(str(exc))
    configure_logging(settings.logs_dir, settings.log_level)
    ctx.obj = AppState(settings)


@app.command()
def run(
    ctx: typer.Context,
    host: Annotated[Optional[str], typer.Option(help="Bind address (default TGTWIN_HOST).")] = None,
    port: Annotated[Optional[int], typer.Option(help="Port (default TGTWIN_PORT).")] = None,
) -> None:
    """Run everything: the Telegram client (when configured), the scheduler and the panel."""
    _run_product(ctx, host, port, with_telegram=True)


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[Optional[str], typer.Option(help="Bind address (default TGTWIN_HOST).")] = None,
    port: Annotated[Optional[int], typer.Option(help="Port (default TGTWIN_PORT).")] = None,
) -> None:
    """Run the panel and API only (no Telegram)."""
    _run_product(ctx, host, port, with_telegram=False)


def _run_product(ctx: typer.Context, host: str | None, port: int | None, with_telegram: bool) -> None:
    import asyncio

    settings = state(ctx).settings
    if host is not None or port is not None:
        settings = settings.model_copy(update={k: v for k, v in (("host", host), ("port", port)) if v is not None})
    try:
        asyncio.run(run_product(settings, with_telegram=with_telegram))
    except StartupError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        pass


class StartupError(Exception):
    """The product cannot start with this configuration (message says why)."""


SAMPLE_EXPORT = Path(__file__).parent / "samples" / "sample_export.json"


async def run_product(settings: "Settings", with_telegram: bool) -> None:
    """Build storage, model service, training controller + schedule, bot and panel; run them;
    stop in reverse order. With nothing configured this is the offline demo."""
    import asyncio
    import logging

    from admin_ui.app import create_app
    from admin_ui.auth import check_bind_allowed, resolve_admin_token
    from admin_ui.server import announce_panel, serve
    from services import Services
    from storage import Database
    from storage import messages as message_queries
    from storage import training as training_queries
    from training.controller import TrainingController
    from training.schedule import RetrainSchedule

    log = logging.getLogger("tgtwin")
    try:
        check_bind_allowed(settings.host, settings.admin_token is not None)
    except ValueError as exc:
        raise StartupError(str(exc)) from None
    async with contextlib.AsyncExitStack() as stack:
        db = await stack.enter_async_context(Database.open(settings.db_path))
        await training_queries.fail_unfinished_runs(db)
        if settings.demo and (await message_queries.counts(db)).messages == 0:
            from bot.export_import import import_export

            result = await import_export(db, SAMPLE_EXPORT)
            log.info("demo: imported the bundled sample (%s)", result)
        from training.language import history_language_warning

        if (language := await history_language_warning(db, settings)) is not None:
            log.warning("%s", language.message)
        model = await stack.enter_async_context(_build_model(settings, await training_queries.promoted_adapter(db)))
        services = Services(settings=settings, db=db, model=model)
        controller = await stack.enter_async_context(TrainingController(settings, on_promoted=model.swap_adapter))
        services.training = controller
        schedule = await stack.enter_async_context(RetrainSchedule(settings, controller))
        services.extras["schedule"] = schedule
        if settings.demo and not await training_queries.list_adapters(db) and not controller.is_running():
            demo = asyncio.create_task(_start_demo_training(model, controller), name="demo-training")
            stack.callback(demo.cancel)
        if with_telegram:
            services.telegram = await stack.enter_async_context(_maybe_telegram(services))
        token, generated = resolve_admin_token(settings)
        app = create_app(services, token)
        announce_panel(settings.host, settings.port, token, generated)
        await serve(app, settings.host, settings.port)


async def _start_demo_training(model: "ReplyModel", controller: "TrainingController") -> None:
    """Train the demo adapter once the model service has loaded the base model, so the first start
    converts the bundled model once instead of twice at the same time."""
    import logging

    log = logging.getLogger("tgtwin")
    wait_ready = getattr(model, "wait_ready", None)
    if wait_ready is not None:
        try:
            await wait_ready()
        except Exception as exc:  # the panel shows the model error; training would fail the same way
            log.warning("demo: not training (%s)", exc)
            return
    run_id = await controller.start_run("demo")
    log.info("demo: training run %s started in the background (see the panel's Training tab)", run_id)


def _build_model(settings: "Settings", promoted: object):
    adapter_dir = getattr(promoted, "path", None)
    if settings.model_backend == "openai":
        from model.openai_backend import OpenAIBackend

        return OpenAIBackend(settings, adapter_dir=adapter_dir)
    from model.service import ModelService

    return ModelService(settings, adapter_dir=adapter_dir)


@contextlib.asynccontextmanager
async def _maybe_telegram(services: "Services"):
    """The live Telegram client when credentials and a session exist; otherwise offline (None)."""
    import logging

    settings = services.settings
    log = logging.getLogger("tgtwin")
    if not settings.telegram_configured:
        log.info("telegram: offline (set TGTWIN_API_ID/TGTWIN_API_HASH and run `login` to go live)")
        yield None
        return
    if not settings.session_path.exists():
        log.warning("telegram: no session yet; run `python main.py login` first. Running offline.")
        yield None
        return
    from bot.runtime import TelegramBot

    async with TelegramBot(services) as bot:
        yield bot.gateway


for _name in COMMAND_MODULES:
    try:
        _module = importlib.import_module(_name)
    except ModuleNotFoundError as exc:  # a package's CLI that is not written yet
        if exc.name != _name:
            raise
        continue
    _module.register(app)


if __name__ == "__main__":
    app()
