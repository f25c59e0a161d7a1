"""The Gradio panel driven through `gradio_client` against a real uvicorn server on loopback:
login guard, Playground and Drafts flows, and errors shown as messages."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from settings import Settings
from storage import chats as chat_queries
from storage import replies as reply_queries
from tests.admin_ui.conftest import ALICE, TOKEN
from tests.admin_ui.live import LiveServer, live_server


def _value(output: Any) -> Any:
    """gradio_client returns a component's new value, or its update dict when props changed too."""
    return output["value"] if isinstance(output, dict) and "__type__" in output else output


@pytest.fixture
def live(settings: Settings) -> Iterator[LiveServer]:
    with live_server(settings) as server:
        yield server


def test_panel_requires_login(live: LiveServer) -> None:
    page = httpx.get(f"{live.url}/ui/", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    assert httpx.get(f"{live.url}/ui/config").status_code == 401
    logged_in = httpx.get(f"{live.url}/ui/", cookies=live.log_in())
    assert logged_in.status_code == 200 and "gradio" in logged_in.text.lower()
    link = httpx.get(f"{live.url}/login?token={TOKEN}", follow_redirects=True)
    assert link.status_code == 200 and str(link.url).endswith("/ui/")


def test_the_log_out_button_posts_instead_of_following_a_link(live: LiveServer) -> None:
    config = httpx.get(f"{live.url}/ui/config", cookies=live.log_in()).json()
    [button] = [c for c in config["components"] if c["props"].get("value") == "Log out"]
    assert not button["props"].get("link")
    [event] = [d for d in config["dependencies"] if [button["id"], "click"] in d["targets"]]
    assert 'method = "post"' in event["js"] and 'action = "/logout"' in event["js"]


def test_no_cross_origin_access(live: LiveServer) -> None:
    cookies = live.log_in()
    for host in ("127.0.0.1", "tgtwin.lan"):
        response = httpx.get(f"{live.url}/ui/config", cookies=cookies,
                             headers={"Origin": "https://evil.example", "Host": host})
        assert "access-control-allow-origin" not in response.headers
    preflight = httpx.options(f"{live.url}/ui/gradio_api/queue/join", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST", "Host": "tgtwin.lan"})
    assert "access-control-allow-origin" not in preflight.headers


def _autoreply(live: LiveServer) -> bool:
    from storage import kv

    return bool(live.call(kv.get_value(live.services.db, kv.AUTOREPLY_ENABLED, True)))


def test_cross_site_writes_with_the_cookie_are_refused(live: LiveServer) -> None:
    cookies = live.log_in()
    call = f"{live.url}/ui/gradio_api/call/set_autoreply"
    refused = [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": live.url.replace("127.0.0.1", "localhost")},  # another origin, even on this machine
        {"Referer": "http://evil.example/page"},  # no Origin: the Referer decides
        {},  # neither: a cookie-borne write must say where it comes from
    ]
    for headers in refused:
        response = httpx.post(call, json={"data": [False]}, cookies=cookies, headers=headers)
        assert response.status_code == 403, (headers, response.status_code)
        assert "cross-site" in response.json()["detail"]
    upload = httpx.post(f"{live.url}/ui/gradio_api/upload", cookies=cookies, headers={"Origin": "http://evil.example"},
                        files={"files": ("result.json", b"{}", "application/json")})
    assert upload.status_code == 403
    assert _autoreply(live) is True  # the kill switch did not move

    # The panel's own page (same origin) may flip it, and the session still works after the refusals.
    same = httpx.post(call, json={"data": [False]}, cookies=cookies, headers={"Origin": live.url})
    assert same.status_code == 200, same.text
    result = httpx.get(f"{call}/{same.json()['event_id']}", cookies=cookies)
    assert "event: complete" in result.text
    assert _autoreply(live) is False


def test_bearer_clients_without_origin_may_write(live: LiveServer) -> None:
    response = httpx.put(f"{live.url}/api/autoreply", json={"enabled": False},
                         headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200 and _autoreply(live) is False


def test_gradio_client_without_token_is_refused(live: LiveServer) -> None:
    from gradio_client import Client
    from gradio_client.exceptions import AuthenticationError

    with pytest.raises(AuthenticationError, match="credentials"):
        Client(f"{live.url}/ui/", verbose=False, headers={"Authorization": "Bearer nope-nope-nope-nope"})


def test_playground_and_drafts_flows(live: LiveServer) -> None:
    from gradio_client import Client

    client = Client(f"{live.url}/ui/", verbose=False, headers={"Authorization": f"Bearer {TOKEN}"})

    # Playground: three candidates side by side, the fourth box hidden and empty; no chat, no memory.
    *boxes, why = client.predict("them: hi\nme: yo\nthem: lunch?\nat 1?", "friend", "", 3, None, api_name="/playground")
    assert [_value(b) for b in boxes] == [f"candidate {i}\nre: at 1?" for i in (1, 2, 3)] + [""]
    assert _value(why).startswith("no memory: no chat chosen")
    assert [b["visible"] for b in boxes] == [True, True, True, False]
    dialogue = live.services.model.dialogues[-1]  # type: ignore[attr-defined]
    assert dialogue.relationship == "friend" and dialogue.turns[-1].messages == ("lunch?", "at 1?")

    # Drafts: suggest → edit → send; suggest → discard.
    out = client.predict(ALICE, "and bring wine", api_name="/suggest_draft")
    draft_text, note, why = _value(out[-3]), _value(out[-2]), _value(out[-1])
    assert draft_text == "sure\nre: and bring wine" and "placed in the Telegram input box" in note
    assert why.endswith("no memory: the chat's reply mode is off, and an off chat gives no memory to prompts")
    pending = live.call(reply_queries.list_drafts(live.services.db, "pending"))
    assert len(pending) == 1 and live.telegram.saved_drafts == [(ALICE, draft_text)]
    draft_id = pending[0].id

    out = client.predict(draft_id, "yes!\nwhich wine?", api_name="/send_draft")
    assert "sent (edited)" in _value(out[-2])
    assert live.telegram.sent == [(ALICE, ["yes!", "which wine?"])]
    sent = live.call(reply_queries.get_draft(live.services.db, draft_id))
    assert sent.status == "sent" and sent.text != sent.sent_text

    out = client.predict(ALICE, "", api_name="/suggest_draft")
    second = live.call(reply_queries.list_drafts(live.services.db, "pending"))[0].id
    out = client.predict(second, api_name="/discard_draft")
    assert "discarded" in _value(out[-2])
    assert live.call(reply_queries.get_draft(live.services.db, second)).status == "discarded"

    # Chats: whitelist a chat with a relationship tag.
    client.predict(ALICE, "draft", "family", "no", "", api_name="/save_chat")
    chat = live.call(chat_queries.get_chat(live.services.db, ALICE))
    assert (chat.reply_mode, chat.relationship, chat.train) == ("draft", "family", False)

    # An owner-facing error arrives as a message, not a crash: the draft is already sent.
    with pytest.raises(Exception, match="already sent"):
        client.predict(draft_id, "again", api_name="/send_draft")
    assert len(live.telegram.sent) == 1
