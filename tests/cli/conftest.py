"""CLI tests drive `cli.app.app` through typer's runner; they reuse the fake Telegram server and
the shared model cache of the bot and model tests."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.bot.conftest import flood_sleeps, server  # noqa: F401 (fixtures)
from tests.model.conftest import model_settings, session_models_dir  # noqa: F401 (fixtures)


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """The CLI configures the root logger; give the next test the handlers it had."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)
