"""Panel login sessions, kept server-side so that logging out revokes them.

The cookie carries a random session id, never the admin token nor anything derived from it: a
copied cookie stops working at `/logout`, at expiry, or when the process restarts (sessions live
in memory; logging in again with the token is one click from the printed link).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable

# A week: long enough not to nag the owner daily, short enough that a forgotten cookie dies.
SESSION_MAX_AGE_S = 7 * 24 * 3600


def _key(session_id: str) -> str:
    """Only a hash of each id is held, so a lookup never compares secrets byte by byte."""
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


class SessionStore:
    """Issued session ids with their expiry; thread-safe (Gradio calls auth from worker threads)."""

    def __init__(self, max_age_s: int = SESSION_MAX_AGE_S, clock: Callable[[], float] = time.time) -> None:
        self.max_age_s = max_age_s
        self._clock = clock
        self._expiry: dict[str, float] = {}
        self._lock = threading.Lock()

    def create(self) -> str:
        session_id = secrets.token_urlsafe(32)
        now = self._clock()
        with self._lock:
            self._expiry = {k: t for k, t in self._expiry.items() if t > now}  # drop the dead ones on the way
            self._expiry[_key(session_id)] = now + self.max_age_s
        return session_id

    def is_valid(self, session_id: str | None) -> bool:
        if not session_id:
            return False
        with self._lock:
            expires = self._expiry.get(_key(session_id))
        return expires is not None and expires > self._clock()

    def revoke(self, session_id: str | None) -> None:
        if session_id:
            with self._lock:
                self._expiry.pop(_key(session_id), None)
