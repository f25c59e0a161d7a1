"""Wrong admin tokens, counted per client address: after `FAILURE_LIMIT` of them within `WINDOW_S`,
that client's token attempts are answered 429 with `Retry-After` until its oldest failure ages out.
Past `TOTAL_FAILURE_LIMIT` within the window from all addresses together, every client's are.

A token attempt is a request with an `Authorization` header (checked here, once, whatever route
it goes to: a wrong bearer token is a failure even where the route answers 303 or 403 rather than
401), or a `/login` request carrying a token (the form post, or the `?token=` link; a failure when
the login page answers 401, which it does exactly for a wrong token). Successful attempts and
requests on a session cookie never count, and a blocked client's session keeps working: only its
token guesses stop. The count lives in memory; a restart clears it.

The client is the connection's address as uvicorn reports it: the `X-Forwarded-For` address for a
connection from a trusted proxy (uvicorn trusts loopback by default), the proxy's own address for
one it does not trust. Forged forwarded addresses, or many real ones, each get a fresh budget; the
total limit is what bounds guessing then (at the cost of token logins for everyone while it holds;
sessions keep working).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

from fastapi.responses import JSONResponse
from starlette.datastructures import Headers, QueryParams
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from admin_ui.auth import bearer_token, token_matches

FAILURE_LIMIT = 10
TOTAL_FAILURE_LIMIT = 100
WINDOW_S = 60.0
# Past this many addresses, those with no failure inside the window are forgotten.
PRUNE_ABOVE = 4096
LOGIN_PATH = "/login"


class FailureWindow:
    """Failure times in a sliding window, per client and in total (used from the event loop only)."""

    def __init__(self, limit: int = FAILURE_LIMIT, total_limit: int = TOTAL_FAILURE_LIMIT,
                 window_s: float = WINDOW_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.total_limit = total_limit
        self.window_s = window_s
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._all: deque[float] = deque()

    def _recent(self, times: deque[float], now: float) -> deque[float]:
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times

    def _wait(self, times: deque[float], limit: int, now: float) -> float | None:
        """Seconds until fewer than `limit` of `times` are inside the window; None when they are now."""
        return None if len(times) < limit else times[-limit] + self.window_s - now

    def retry_after(self, client: str) -> int | None:
        """Whole seconds until `client` may try a token again; None when it may now."""
        now = self._clock()
        waits = [w for w in (self._wait(self._recent(self._failures.get(client, deque()), now), self.limit, now),
                             self._wait(self._recent(self._all, now), self.total_limit, now)) if w is not None]
        return max(1, math.ceil(max(waits))) if waits else None

    def record_failure(self, client: str) -> None:
        now = self._clock()
        self._failures.setdefault(client, deque()).append(now)
        self._all.append(now)
        if len(self._failures) > PRUNE_ABOVE:
            self._failures = {c: t for c, t in self._failures.items() if self._recent(t, now)}


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


def _is_login_attempt(scope: Scope) -> bool:
    if scope["path"] != LOGIN_PATH:
        return False
    return scope["method"] == "POST" or "token" in QueryParams(scope.get("query_string", b""))


class TokenAttemptLimit:
    """ASGI middleware: answers 429 to a blocked client's token attempts and counts wrong tokens."""

    def __init__(self, app: ASGIApp, token: str, failures: FailureWindow) -> None:
        self.app = app
        self.token = token
        self.failures = failures

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        authorization = Headers(scope=scope).get("authorization")
        login = _is_login_attempt(scope)
        if authorization is None and not login:
            await self.app(scope, receive, send)
            return
        client = _client(scope)
        wait = self.failures.retry_after(client)
        if wait is not None:
            response = JSONResponse({"detail": f"too many wrong tokens from this address; try again in {wait} s"},
                                    status_code=429, headers={"Retry-After": str(wait)})
            await response(scope, receive, send)
            return
        if authorization is not None and not token_matches(bearer_token(authorization), self.token):
            self.failures.record_failure(client)
            await self.app(scope, receive, send)
            return
        if not login:
            await self.app(scope, receive, send)
            return

        async def send_watching_status(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                self.failures.record_failure(client)
            await send(message)

        await self.app(scope, receive, send_watching_status)
