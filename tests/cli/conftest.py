"""CLI tests drive `cli.app.app` through typer's runner; they reuse the fake Telegram server and
the shared model cache of the bot and model tests."""

from __future__ import annotations

from tests.bot.conftest import flood_sleeps, server  # noqa: F401 (fixtures)
from tests.model.conftest import model_settings, session_models_dir, tiny_dir  # noqa: F401 (fixtures)
