"""One process at a time uses the Telegram session: `tgtwin run` holds this lock while its client
runs, and `login`/`harvest` take it too, so a second process gets a clear answer instead of a
session (SQLite) that is locked or two clients on one authorisation."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator

from settings import Settings


class SessionInUse(RuntimeError):
    """Another tgtwin process is using the Telegram session."""


@contextlib.contextmanager
def hold_session(settings: Settings) -> Iterator[None]:
    """Hold the session lock for the duration (an advisory `flock`, released if the process dies)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(settings.data_dir / f"{settings.session_name}.session-lock", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SessionInUse(
                "the Telegram session is in use by another tgtwin process (is `tgtwin run` running?); "
                "stop it first, or use the running app's panel instead"
            ) from None
        yield
    finally:
        os.close(fd)
