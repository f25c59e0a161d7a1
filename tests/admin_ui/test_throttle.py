"""Wrong tokens are limited per client address: the 11th within a minute is answered 429 with
Retry-After, whatever route or form carried it; good tokens never count, other clients and the blocked
client's own session are not affected, and the block lifts as the failures age out."""

from __future__ import annotations

from fastapi.testclient import TestClient

from admin_ui.auth import SESSION_COOKIE
from admin_ui.throttle import FAILURE_LIMIT, WINDOW_S, FailureWindow
from tests.admin_ui.conftest import TOKEN, PanelEnv, make_client

WRONG = "wrong-token-wrong-token"


def _client(env: PanelEnv, address: str, token: str | None = None) -> TestClient:
    return make_client(env.client.app, env.portal, token, address=address)


def test_the_11th_wrong_token_gets_429_and_a_good_token_from_another_client_works(env: PanelEnv) -> None:
    guesser = _client(env, "198.51.100.7", WRONG)
    assert [guesser.get("/api/status").status_code for _ in range(FAILURE_LIMIT)] == [401] * FAILURE_LIMIT
    blocked = guesser.get("/api/status")
    assert blocked.status_code == 429 and "too many wrong tokens" in blocked.json()["detail"]
    assert 1 <= int(blocked.headers["Retry-After"]) <= WINDOW_S
    right_token_same_address = _client(env, "198.51.100.7", TOKEN).get("/api/status")
    assert right_token_same_address.status_code == 429  # while blocked, no token is tried at all
    assert _client(env, "198.51.100.8", TOKEN).get("/api/status").status_code == 200
    assert _client(env, "198.51.100.7").get("/health").status_code == 200  # no token, no limit


def test_good_tokens_do_not_count(env: PanelEnv) -> None:
    wrong, right = _client(env, "203.0.113.5", WRONG), _client(env, "203.0.113.5", TOKEN)
    for _ in range(FAILURE_LIMIT - 1):
        assert wrong.get("/api/status").status_code == 401
    for _ in range(3 * FAILURE_LIMIT):
        assert right.get("/api/status").status_code == 200
    assert wrong.get("/api/status").status_code == 401  # the 10th failure
    assert right.get("/api/status").status_code == 429


def test_wrong_login_form_and_link_tokens_count_and_a_session_keeps_working(env: PanelEnv) -> None:
    browser = _client(env, "192.0.2.50")
    browser.headers["Origin"] = "http://testserver"  # the login page's own form
    assert browser.post("/login", data={"token": TOKEN}, follow_redirects=False).status_code == 303
    for i in range(FAILURE_LIMIT):
        response = (browser.post("/login", data={"token": WRONG}) if i % 2
                    else browser.get("/login", params={"token": WRONG}))
        assert response.status_code == 401
    assert browser.post("/login", data={"token": TOKEN}).status_code == 429
    assert browser.get("/login", params={"token": TOKEN}).status_code == 429
    assert browser.get("/login").status_code == 200  # the form itself, no token in it
    assert SESSION_COOKIE in browser.cookies and browser.get("/openapi.json").status_code == 200
    other = _client(env, "192.0.2.51")
    assert other.post("/login", data={"token": TOKEN}, follow_redirects=False).status_code == 303


def test_a_wrong_token_counts_where_the_route_answers_403(env: PanelEnv) -> None:
    """A cookie-borne write from a foreign origin is refused 403 whatever the token, unless it is right:
    so a wrong one must count there too, or that answer would be an unlimited oracle."""
    client = _client(env, "192.0.2.60", WRONG)
    client.cookies.set(SESSION_COOKIE, "any-value")
    for _ in range(FAILURE_LIMIT):
        response = client.put("/api/autoreply", json={"enabled": False}, headers={"Origin": "http://evil.example"})
        assert response.status_code == 403
    assert client.put("/api/autoreply", json={"enabled": False}).status_code == 429


def test_the_block_lifts_as_failures_age_out() -> None:
    now = [1000.0]
    window = FailureWindow(limit=3, window_s=60.0, clock=lambda: now[0])
    for step in range(3):
        assert window.retry_after("a") is None
        window.record_failure("a")
        now[0] += 10.0 * (step < 2)
    assert window.retry_after("a") == 40 and window.retry_after("b") is None  # oldest at 1000, now 1020
    now[0] = 1060.0
    assert window.retry_after("a") is None  # the first failure aged out: two left in the window
    window.record_failure("a")
    assert window.retry_after("a") == 10


def test_wrong_tokens_from_many_addresses_are_bounded_in_total() -> None:
    """Many addresses (or forged X-Forwarded-For ones) each get a budget; the total limit still holds."""
    now = [0.0]
    window = FailureWindow(limit=3, total_limit=5, window_s=60.0, clock=lambda: now[0])
    for address in range(5):
        assert window.retry_after(f"10.0.0.{address}") is None
        window.record_failure(f"10.0.0.{address}")
        now[0] += 1.0
    assert window.retry_after("10.0.0.99") == 55  # a new address waits for the oldest failure (at 0 s)
    now[0] = 60.0
    assert window.retry_after("10.0.0.99") is None
