"""Same-origin writes: a state-changing request that rides on the panel's cookie must come from the
panel's own pages.

SameSite=Lax keeps the cookie off most cross-site requests, but not off every one (same-site
subdomains, older browsers), and the Gradio API under `/ui/gradio_api/...` changes state with plain
POSTs (the kill switch, uploads). So every POST/PUT/PATCH/DELETE that carries the session cookie and
no valid bearer token must name this server as its Origin (or, when a browser sends no Origin, its
Referer); anything else is answered 403 before it reaches a route. Bearer-token clients (scripts,
`gradio_client`) send no cookie and are not affected.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from admin_ui.auth import SESSION_COOKIE, bearer_token, token_matches

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _host_port(netloc: str, scheme: str) -> tuple[str, int | None]:
    parts = urlsplit(f"//{netloc}")
    try:
        port = parts.port
    except ValueError:
        return "", None
    return (parts.hostname or "").lower(), port or _DEFAULT_PORTS.get(scheme)


def same_origin(source: str | None, host_header: str | None) -> bool:
    """Whether `source` (an Origin or Referer value) names the server the request was sent to.

    Compares host and port with the `Host` header (what the browser addressed), a missing port
    being the default of the source's scheme (so it holds behind a TLS-terminating proxy too);
    `null`, a missing value or an unparsable one never matches."""
    if not source or not host_header or source == "null":
        return False
    parts = urlsplit(source)
    if parts.scheme not in _DEFAULT_PORTS or not parts.netloc:
        return False
    origin = _host_port(parts.netloc, parts.scheme)
    return bool(origin[0]) and origin == _host_port(host_header, parts.scheme)


def cross_site_write(request: Request, admin_token: str) -> bool:
    """True when the request must be refused: a cookie-authenticated write from another origin."""
    if request.method not in STATE_CHANGING or SESSION_COOKIE not in request.cookies:
        return False
    if token_matches(bearer_token(request.headers.get("authorization")), admin_token):
        return False
    source = request.headers.get("origin") or request.headers.get("referer")
    return not same_origin(source, request.headers.get("host"))


class SameOriginWrites:
    """ASGI middleware applying `cross_site_write` to every HTTP request, the Gradio app's included."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and cross_site_write(Request(scope), self.token):
            response = JSONResponse({"detail": "cross-site request refused: open the panel from its own address"},
                                    status_code=403)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
