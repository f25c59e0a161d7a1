"""The token's origin, the bind refusal, and 401 on every protected route."""

from __future__ import annotations

import io
import re
import stat

import pytest

from admin_ui.auth import (
    SESSION_COOKIE,
    BindRefused,
    check_bind_allowed,
    resolve_admin_token,
    token_file,
    token_matches,
)
from admin_ui.origin import same_origin
from admin_ui.server import announce_panel, panel_url
from admin_ui.sessions import SessionStore
from settings import Settings, is_loopback, load_settings
from tests.admin_ui.conftest import TOKEN, PanelEnv, make_client

WRONG = "wrong-token-wrong-token"


def test_generated_token_is_stored_0600_and_reused(settings: Settings) -> None:
    token, generated = resolve_admin_token(settings)
    path = token_file(settings)
    assert generated and len(token) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert resolve_admin_token(settings) == (token, True)


def test_token_file_with_loose_mode_is_narrowed(settings: Settings) -> None:
    token, _ = resolve_admin_token(settings)
    token_file(settings).chmod(0o644)
    assert resolve_admin_token(settings) == (token, True)
    assert stat.S_IMODE(token_file(settings).stat().st_mode) == 0o600


def test_configured_token_wins_and_writes_nothing(settings: Settings) -> None:
    configured = load_settings(data_dir=settings.data_dir, admin_token="a-configured-token-123")
    assert resolve_admin_token(configured) == ("a-configured-token-123", False)
    assert not token_file(settings).exists()


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "::", "example.org"])
def test_non_loopback_without_token_is_refused(host: str) -> None:
    assert not is_loopback(host)
    with pytest.raises(BindRefused, match="TGTWIN_ADMIN_TOKEN"):
        check_bind_allowed(host, token_configured=False)
    check_bind_allowed(host, token_configured=True)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"])
def test_loopback_needs_no_configured_token(host: str) -> None:
    assert is_loopback(host)
    assert check_bind_allowed(host, token_configured=False) is None  # returns instead of raising BindRefused


def test_bind_refusal_is_a_value_error_for_the_composition_root() -> None:
    assert issubclass(BindRefused, ValueError)


def test_token_compare() -> None:
    assert token_matches(TOKEN, TOKEN)
    assert not token_matches(None, TOKEN)
    assert not token_matches("", TOKEN)
    assert not token_matches(TOKEN + "x", TOKEN)


def test_announce_prints_login_link_only_for_a_generated_token() -> None:
    out = io.StringIO()
    announce_panel("127.0.0.1", 8000, "tok/en", True, out)
    assert "http://127.0.0.1:8000/login?token=tok%2Fen" in out.getvalue()
    out = io.StringIO()
    announce_panel("0.0.0.0", 9000, "secret-configured", False, out)
    assert "secret-configured" not in out.getvalue() and "http://127.0.0.1:9000/ui/" in out.getvalue()
    assert panel_url("::1", 8000) == "http://[::1]:8000/ui/"


def _protected_requests(env: PanelEnv) -> list[tuple[str, str]]:
    """Every documented /api operation, with its path parameters filled in."""
    requests = []
    for template, operations in env.client.app.openapi()["paths"].items():  # type: ignore[attr-defined]
        if template.startswith("/api"):
            path = re.sub(r"\{(\w+)\}", lambda m: "adapter-1" if m.group(1) == "adapter_id" else "1", template)
            requests += [(method.upper(), path) for method in operations]
    return requests + [("GET", "/openapi.json"), ("GET", "/docs")]


def test_every_protected_route_is_listed(env: PanelEnv) -> None:
    paths = {path for _, path in _protected_requests(env)}
    for expected in ("/api/status", "/api/autoreply", "/api/chats", "/api/chats/{chat_id}", "/api/drafts",
                     "/api/drafts/{draft_id}/send", "/api/drafts/{draft_id}/discard", "/api/generate", "/api/import",
                     "/api/harvest", "/api/jobs/{job_id}", "/api/training/runs", "/api/training/runs/{run_id}",
                     "/api/adapters", "/api/adapters/{adapter_id}/promote", "/api/adapters/rollback", "/api/replies"):
        assert expected.replace("{adapter_id}", "adapter-1").replace("{chat_id}", "1").replace("{draft_id}", "1")\
            .replace("{job_id}", "1").replace("{run_id}", "1") in paths


@pytest.mark.parametrize("auth", [None, f"Bearer {WRONG}", "Basic dXNlcjpwYXNz", f"Bearer {TOKEN} extra", "Bearer"])
def test_every_protected_route_rejects_bad_credentials(env: PanelEnv, auth: str | None) -> None:
    headers = {"Authorization": auth} if auth else {}
    requests = _protected_requests(env)
    assert len(requests) >= 20
    for i, (method, path) in enumerate(requests):
        # Each from its own address: more than 10 wrong tokens from one would be answered 429.
        client = make_client(env.client.app, env.portal, None, address=f"192.0.2.{i}")
        response = client.request(method, path, headers=headers, json={})
        assert response.status_code == 401, (method, path, response.status_code)
        assert response.json() == {"detail": "not authenticated"}
        assert response.headers["www-authenticate"] == "Bearer"
    assert env.telegram.sent == [] and env.training.started == []


def test_health_is_open_and_the_rest_accepts_the_token(env: PanelEnv) -> None:
    health = env.anonymous.get("/health")
    assert health.status_code == 200
    assert health.json()["telegram_connected"] is True
    assert health.json()["model"]["state"] == "ready"
    assert env.client.get("/api/status").status_code == 200
    assert env.client.get("/openapi.json").status_code == 200


def _log_in(env: PanelEnv) -> str:
    response = env.anonymous.post("/login", data={"token": TOKEN}, follow_redirects=False)
    assert response.status_code == 303
    return response.cookies[SESSION_COOKIE]


def test_docs_accept_the_panel_session_cookie(env: PanelEnv) -> None:
    _log_in(env)
    assert env.anonymous.get("/openapi.json").status_code == 200
    env.anonymous.cookies.clear()
    env.anonymous.cookies.set(SESSION_COOKIE, "a-made-up-session-id")
    assert env.anonymous.get("/openapi.json").status_code == 401


def test_login_page_sets_a_cookie_that_is_not_the_token(env: PanelEnv) -> None:
    page = env.anonymous.get("/login")
    assert page.status_code == 200 and 'name="token"' in page.text
    bad = env.anonymous.post("/login", data={"token": WRONG}, follow_redirects=False)
    assert bad.status_code == 401 and "not valid" in bad.text
    assert SESSION_COOKIE not in bad.headers.get("set-cookie", "")
    good = env.anonymous.post("/login", data={"token": TOKEN, "next": "//evil.example/"}, follow_redirects=False)
    assert good.status_code == 303 and good.headers["location"] == "/ui/"
    cookie = good.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Max-Age=604800" in cookie
    assert "Secure" not in cookie  # plain http on loopback: a Secure cookie would never come back
    assert TOKEN not in cookie and len(good.cookies[SESSION_COOKIE]) >= 32
    again = env.anonymous.post("/login", data={"token": TOKEN}, headers={"Origin": "http://testserver"},
                               follow_redirects=False)
    assert again.cookies[SESSION_COOKIE] != good.cookies[SESSION_COOKIE]  # a fresh random session each time


def test_cookie_is_secure_when_the_request_came_over_https(env: PanelEnv) -> None:
    env.anonymous.base_url = "https://testserver"  # type: ignore[assignment]
    response = env.anonymous.post("/login", data={"token": TOKEN}, follow_redirects=False)
    assert response.status_code == 303 and "Secure" in response.headers["set-cookie"]


def test_logout_is_a_same_origin_post_that_revokes_the_session_on_the_server(env: PanelEnv) -> None:
    stolen = _log_in(env)
    assert env.anonymous.get("/openapi.json").status_code == 200
    assert env.anonymous.get("/logout", follow_redirects=False).status_code == 405  # a link cannot log out
    cross_site = env.anonymous.post("/logout", headers={"Origin": "http://evil.example"}, follow_redirects=False)
    assert cross_site.status_code == 403
    assert env.anonymous.get("/openapi.json").status_code == 200  # still logged in after both
    logout = env.anonymous.post("/logout", headers={"Origin": "http://testserver"}, follow_redirects=False)
    assert logout.status_code == 303 and logout.headers["location"] == "/login"
    env.anonymous.cookies.clear()
    env.anonymous.cookies.set(SESSION_COOKIE, stolen)  # the copied cookie, replayed after logout
    assert env.anonymous.get("/openapi.json").status_code == 401


def test_login_link_with_token_logs_in_and_drops_it_from_the_url(env: PanelEnv) -> None:
    response = env.anonymous.get(f"/login?token={TOKEN}", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/ui/"
    assert env.anonymous.get(f"/login?token={WRONG}").status_code == 401


@pytest.mark.parametrize(("source", "host", "same"), [
    ("http://127.0.0.1:8000", "127.0.0.1:8000", True),
    ("http://127.0.0.1:8000/ui/?x=1", "127.0.0.1:8000", True),  # a Referer: only its origin counts
    ("https://panel.lan", "panel.lan", True),  # behind a TLS proxy: default ports on both sides
    ("https://PANEL.lan:443", "panel.lan", True),
    ("http://evil.example", "127.0.0.1:8000", False),
    ("http://127.0.0.1:8001", "127.0.0.1:8000", False),
    ("http://localhost:8000", "127.0.0.1:8000", False),
    ("null", "127.0.0.1:8000", False),
    ("", "127.0.0.1:8000", False),
    (None, "127.0.0.1:8000", False),
    ("http://127.0.0.1:8000", None, False),
    ("javascript:alert(1)", "127.0.0.1:8000", False),
    ("http://127.0.0.1:99999", "127.0.0.1:99999", False),
])
def test_same_origin(source: str | None, host: str | None, same: bool) -> None:
    assert same_origin(source, host) is same


def test_sessions_expire_and_revoke() -> None:
    now = [1000.0]
    store = SessionStore(max_age_s=60, clock=lambda: now[0])
    first, second = store.create(), store.create()
    assert store.is_valid(first) and store.is_valid(second) and first != second
    assert not store.is_valid(None) and not store.is_valid("") and not store.is_valid("made-up")
    store.revoke(first)
    assert not store.is_valid(first) and store.is_valid(second)
    now[0] += 61
    assert not store.is_valid(second)
