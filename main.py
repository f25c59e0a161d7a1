"""tgtwin — the one CLI entry and the composition root.

Every command is a thin call into a package. Heavy imports (torch, transformers, pyrogram,
gradio) happen inside the commands, so `--help` is instant.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Annotated, Optional

import typer

from cli_support import AppState, fail

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
