"""Shared fixtures. No test may reach the network: connections outside loopback fail at once."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from settings import Settings, load_settings
from storage import Database

_real_connect = socket.socket.connect
_LOOPBACK = ("127.", "::1", "localhost")


def _guarded_connect(self: socket.socket, address: object) -> None:
    host = address[0] if isinstance(address, tuple) else str(address)
    if self.family in (socket.AF_INET, socket.AF_INET6) and not str(host).startswith(_LOOPBACK):
        raise OSError(f"tests may not reach the network ({host})")
    return _real_connect(self, address)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings isolated from the developer's environment and .env, data in a temp dir."""
    monkeypatch.chdir(tmp_path)
    for key in list(__import__("os").environ):
        if key.startswith("TGTWIN_"):
            monkeypatch.delenv(key)
    return load_settings(data_dir=tmp_path / "data", base_model="tiny")


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    async with Database.open(settings.db_path) as database:
        yield database


@pytest.fixture(autouse=True)
def _restore_umask() -> Iterator[None]:
    """The CLI sets the process umask to 077 (`cli.app`); give the next test the umask it had."""
    before = os.umask(0o077)  # the only way to read it is to set it
    os.umask(before)
    yield
    os.umask(before)


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
