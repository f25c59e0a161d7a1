"""The `tgtwin` command: the root options and every command, registered here explicitly.

Where each command lives: `cli.data` (import-export, status), `cli.telegram` (login, harvest),
`cli.model` (reply), `cli.training` (dataset, train, eval, promote, rollback), `cli.panel`
(run, serve, panel-url). Modules import nothing heavy at the top, so `--help` is instant.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import Annotated

import typer

from cli import data, model, panel, telegram, training
from cli.common import AppState, fail

app = typer.Typer(no_args_is_help=True, add_completion=False, help="tgtwin: a Telegram userbot that replies as you.")


PRIVATE_UMASK = 0o077
"""Every file and directory a tgtwin process creates is the owner's only (0600/0700): the one rule
for the whole data dir — database, logs, session, adapters, checkpoints, uploads, run files.
Set once at the CLI's entry, so every child (training workers, torchrun ranks) inherits it."""


@app.callback()
def _root(
    ctx: typer.Context,
    data_dir: Annotated[str | None, typer.Option(metavar="PATH", help="Override TGTWIN_DATA_DIR.")] = None,
) -> None:
    """Build settings, the private data dir and logging once; commands get them from the context."""
    os.umask(PRIVATE_UMASK)
    from logging_setup import configure_logging
    from settings import SettingsError, load_settings
    from storage.db import make_private_dir

    # A string, not a Path: Path("") would already be "." and hide an empty --data-dir from the
    # settings' check.
    overrides = {"data_dir": data_dir} if data_dir is not None else {}
    try:
        settings = load_settings(**overrides)
    except SettingsError as exc:
        fail(str(exc))
    try:
        make_private_dir(settings.data_dir)
        configure_logging(settings.logs_dir, settings.log_level)
    except OSError as exc:
        fail(f"data dir {settings.data_dir} is not usable: {exc.strerror or exc}")
    _warn_if_shared(settings.data_dir)
    ctx.obj = AppState(settings)


def _warn_if_shared(data_dir: Path) -> None:
    """`make_private_dir` tightens our own data dir to 0700 but leaves a shared (sticky, like /tmp)
    or someone else's directory alone; say so, since other users can then list what is in it."""
    mode = stat.S_IMODE(data_dir.stat().st_mode)
    if mode & 0o077:
        logging.getLogger(__name__).warning(
            "data dir %s is open to other users (mode %o); its files are private (0600), but prefer a "
            "directory of your own", data_dir, mode,
        )


app.command("run")(panel.run_command)
app.command("serve")(panel.serve_command)
app.command("panel-url")(panel.panel_url_command)
app.command("import-export")(data.import_export_command)
app.command("status")(data.status_command)
app.command("login")(telegram.login_command)
app.command("harvest")(telegram.harvest_command)
app.command("timing")(telegram.timing_command)
app.command("reply")(model.reply_command)
app.command("dataset")(training.dataset_command)
app.command("train")(training.train_command)
app.command("eval")(training.eval_command)
app.command("promote")(training.promote_command)
app.command("rollback")(training.rollback_command)


def main() -> None:
    """The `tgtwin` console script."""
    app()
