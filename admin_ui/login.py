"""The panel's login: a one-field token page, a Jupyter-style `/login?token=…` link, and the guard
that sends a browser without a session to that page instead of a bare 401.

A successful login opens a server-side session (admin_ui.sessions) and sets its random id as an
HttpOnly, SameSite=Lax cookie with a Max-Age (and `Secure` when the request came over HTTPS);
`POST /logout` revokes it (a POST, so that a link or an image elsewhere cannot log the owner out).
Gradio's `auth_dependency` accepts that cookie or a bearer header (what `gradio_client` sends).
Cross-site writes with the cookie, logout included, are refused by admin_ui.origin; repeated wrong
tokens by admin_ui.throttle, which counts this page's 401s (it answers 401 exactly for a wrong token).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from admin_ui.auth import SESSION_COOKIE, bearer_token, token_matches
from admin_ui.sessions import SessionStore

PANEL_PATH = "/ui"
router = APIRouter(include_in_schema=False)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>tgtwin · log in</title>
<style>
 body {{ font-family: system-ui, sans-serif; background: #f4f5f7; display: flex; min-height: 100vh;
        align-items: center; justify-content: center; margin: 0; }}
 form {{ background: #fff; padding: 2rem 2.2rem; border-radius: 12px; box-shadow: 0 2px 12px #0001; width: 22rem; }}
 h1 {{ font-size: 1.3rem; margin: 0 0 .3rem; }} p {{ color: #555; font-size: .9rem; }}
 input {{ width: 100%; box-sizing: border-box; padding: .6rem; font-size: 1rem; border: 1px solid #ccc;
         border-radius: 8px; margin: .6rem 0 1rem; }}
 button {{ width: 100%; padding: .6rem; font-size: 1rem; border: 0; border-radius: 8px; background: #f97316;
          color: #fff; cursor: pointer; }}
 .error {{ color: #b91c1c; }}
</style></head>
<body><form method="post" action="/login">
 <h1>tgtwin panel</h1>
 <p>Paste the admin token: <code>TGTWIN_ADMIN_TOKEN</code>, or the one printed at start-up
 (stored in the data dir as <code>admin_token</code>).</p>
 {error}
 <input type="password" name="token" id="token" placeholder="admin token" autocomplete="current-password" autofocus>
 <input type="hidden" name="next" value="{next}">
 <button type="submit">Log in</button>
</form></body></html>"""


def _safe_next(target: str | None) -> str:
    """Only same-site paths: never an open redirect."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return PANEL_PATH + "/"


def _page(next_path: str, error: str | None = None, status_code: int = 200) -> HTMLResponse:
    block = f'<p class="error">{html.escape(error)}</p>' if error else ""
    return HTMLResponse(_PAGE.format(error=block, next=html.escape(next_path, quote=True)), status_code=status_code)


def _sessions(request: Request) -> SessionStore:
    return request.app.state.sessions  # type: ignore[no-any-return]


def _logged_in(request: Request, target: str) -> Response:
    sessions = _sessions(request)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE, sessions.create(), max_age=sessions.max_age_s, httponly=True, samesite="lax", path="/",
        secure=request.url.scheme == "https",
    )
    return response


@router.get("/login")
async def login_page(request: Request, token: str | None = None, next: str | None = None) -> Response:
    """The form; with `?token=` (the printed link) it logs in at once and drops the token from the URL."""
    admin_token = request.app.state.admin_token
    target = _safe_next(next)
    if token is not None:
        if token_matches(token, admin_token):
            return _logged_in(request, target)
        return _page(target, "That token is not valid.", status_code=401)
    return _page(target)


@router.post("/login")
async def login_submit(request: Request, token: str = Form(""), next: str = Form("")) -> Response:
    admin_token = request.app.state.admin_token
    target = _safe_next(next)
    if token_matches(token.strip(), admin_token):
        return _logged_in(request, target)
    return _page(target, "That token is not valid.", status_code=401)


@router.post("/logout")
async def logout(request: Request) -> Response:
    """Ends the session on the server too: the same cookie, replayed, no longer opens the panel."""
    _sessions(request).revoke(request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def panel_auth(token: str, sessions: SessionStore) -> Callable[[Request], str | None]:
    """Gradio's `auth_dependency`: the owner when the session cookie or a bearer token is valid."""

    def panel_user(request: Request) -> str | None:
        if sessions.is_valid(request.cookies.get(SESSION_COOKIE)):
            return "owner"
        if token_matches(bearer_token(request.headers.get("authorization")), token):
            return "owner"
        return None

    return panel_user


class PanelLoginRedirect:
    """ASGI middleware: a browser opening the panel page without a session goes to the login page
    (Gradio itself would answer a bare 401)."""

    def __init__(self, app: ASGIApp, token: str, sessions: SessionStore) -> None:
        self.app = app
        self.user = panel_auth(token, sessions)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and scope["path"] in (PANEL_PATH, PANEL_PATH + "/")
            and self.user(Request(scope)) is None
        ):
            response = RedirectResponse(f"/login?next={quote(PANEL_PATH + '/')}", status_code=303)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
