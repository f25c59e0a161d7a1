"""Training tests share one build of the `tiny` base model (built once per session, copied per test)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from model.sources import resolve_base_dir

    return resolve_base_dir("tiny", tmp_path_factory.mktemp("models"))


@pytest.fixture
def tiny_settings(settings, tiny_model_dir):
    """`settings` whose models dir already holds the tiny base model."""
    shutil.copytree(tiny_model_dir, settings.models_dir / "tiny")
    return settings


@pytest.fixture
def open_umask():
    """A umask that lets group and others read (022): a run's private files must not rely on the
    process-wide 077 the CLI sets."""
    old = os.umask(0o022)
    yield
    os.umask(old)
