""""Why this reply": the memory a reply's prompt held, through the REST API (ids and dates, never a
stored chat's texts) and the panel's handlers (the texts, the dates, deleted messages), or why
there was none."""

from __future__ import annotations

import json
from typing import Any

import pytest

from admin_ui.panel import drafts, playground
from admin_ui.panel.common import PanelContext, format_time
from application.reply_memory import NO_MEMORY_REASONS
from storage import MessageRow
from storage import messages as message_queries
from storage import replies as reply_queries
from tests.admin_ui.conftest import ALICE, NOW, TEAM, PanelEnv

MONTH, FORTNIGHT = NOW - 30 * 86_400, NOW - 14 * 86_400
FIRST, SECOND = [11, 12], [21, 22]
"""Alice's two earlier sessions about her dog, each one exchange (partner, then the owner)."""
ABOUT_MAX = {"messages": [{"from": "partner", "text": "how is Max?"}], "memory_chat_id": ALICE}


@pytest.fixture
def ctx(env: PanelEnv) -> PanelContext:
    return PanelContext(env.services, env.client.app.state.jobs)  # type: ignore[attr-defined]


@pytest.fixture
def remembered(env: PanelEnv) -> PanelEnv:
    """Alice in draft mode, with a month-old and a fortnight-old session about Max; the team chat
    speaks of Max too (never Alice's memory)."""
    assert env.client.put(f"/api/chats/{ALICE}", json={"mode": "draft"}).status_code == 200
    env.call(message_queries.insert_messages, env.services.db, [
        MessageRow(ALICE, 11, ALICE, "Alice", False, MONTH, "our dog Max ate my shoes"),
        MessageRow(ALICE, 12, 1, None, True, MONTH + 60, "poor shoes, bad Max"),
        MessageRow(ALICE, 21, ALICE, "Alice", False, FORTNIGHT, "Max has a vet visit on friday"),
        MessageRow(ALICE, 22, 1, None, True, FORTNIGHT + 60, "fingers crossed for Max"),
        MessageRow(TEAM, 31, 7, "Carol", False, MONTH, "Max from sales joins on monday"),
    ], "export")
    return env


def _generate(env: PanelEnv, body: dict[str, Any] = ABOUT_MAX) -> dict[str, Any]:
    response = env.client.post("/api/generate", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_playground_answers_with_the_memory_its_prompt_held(remembered: PanelEnv) -> None:
    out = _generate(remembered)
    memory = out["memory"]
    assert memory["message_ids"] == FIRST + SECOND and memory["no_memory_reason"] is None
    assert memory["recollections"] == [{"date": MONTH, "message_ids": FIRST, "deleted_message_ids": []},
                                       {"date": FORTNIGHT, "message_ids": SECOND, "deleted_message_ids": []}]
    assert memory["note"] == "memory: 4 messages from 2 earlier exchanges of this chat"
    assert "shoes" not in json.dumps(out) and "vet" not in json.dumps(out)  # ids only over REST
    [dialogue] = remembered.model.dialogues
    assert [r.message_ids for r in dialogue.memory] == [(11, 12), (21, 22)]  # Alice's own, not the team's


def test_only_the_memory_left_after_the_cut_is_shown_and_recorded(remembered: PanelEnv) -> None:
    remembered.model.shown_memory = 1  # the prompt cap kept the newest recollection only
    assert _generate(remembered)["memory"]["message_ids"] == SECOND
    draft = remembered.client.post("/api/drafts", json={"chat_id": ALICE, "message": "how is Max?"}).json()
    assert draft["memory"]["message_ids"] == SECOND and draft["memory_message_ids"] == SECOND
    assert remembered.call(reply_queries.get_draft, remembered.services.db, draft["id"]).memory_message_ids == SECOND
    assert remembered.client.get("/api/drafts").json()[0]["memory_message_ids"] == SECOND
    remembered.model.shown_memory = 0
    assert _generate(remembered)["memory"]["no_memory_reason"] == "cut_to_fit"


@pytest.mark.parametrize(("change", "reason"), [
    ("memory off", "memory_off"),
    ("chat off", "chat_off"),
    ("adapter without memory", "format_without_memory"),
    ("nothing relevant", "nothing_relevant"),
    ("no chat", "no_chat"),
])
def test_no_memory_comes_with_its_reason(remembered: PanelEnv, change: str, reason: str) -> None:
    body = dict(ABOUT_MAX)
    if change == "memory off":
        remembered.services.settings = remembered.services.settings.model_copy(update={"memory_enabled": False})
    elif change == "chat off":
        remembered.client.put(f"/api/chats/{ALICE}", json={"mode": "off"})
    elif change == "adapter without memory":
        remembered.model.format_memory = False
    elif change == "nothing relevant":
        body["messages"] = [{"from": "partner", "text": "what a storm today"}]
    else:
        del body["memory_chat_id"]
    memory = _generate(remembered, body)["memory"]
    assert (memory["message_ids"], memory["recollections"]) == ([], [])
    assert memory["no_memory_reason"] == reason and memory["note"] == f"no memory: {NO_MEMORY_REASONS[reason]}"


def test_memory_from_an_unknown_chat_is_a_404(env: PanelEnv) -> None:
    response = env.client.post("/api/generate", json={**ABOUT_MAX, "memory_chat_id": 999})
    assert response.status_code == 404 and "999" in response.json()["detail"]
    assert env.model.dialogues == []


def test_the_playground_tab_shows_dates_lines_and_ids(remembered: PanelEnv, ctx: PanelContext) -> None:
    result = remembered.call(playground.candidates, ctx, "them: how is Max?", "", "", 1, str(ALICE))
    assert result.candidates == ["sure\nre: how is Max?"]
    lines = result.why.splitlines()
    assert lines[0] == "memory: 4 messages from 2 earlier exchanges of this chat"
    month = lines.index(f"{format_time(MONTH)} (messages 11, 12)")
    assert lines[month + 1:month + 3] == ["  Alice: our dog Max ate my shoes", "  Me: poor shoes, bad Max"]
    assert f"{format_time(FORTNIGHT)} (messages 21, 22)" in lines
    unchosen = remembered.call(playground.candidates, ctx, "them: how is Max?", "", "", 1, None)
    assert unchosen.why == f"no memory: {NO_MEMORY_REASONS['no_chat']}"


def test_the_drafts_tab_reads_a_drafts_memory_back_deleted_messages_as_deleted(
    remembered: PanelEnv, ctx: PanelContext
) -> None:
    action = remembered.call(drafts.suggest, ctx, ALICE, "how is Max?")
    assert action.why.startswith(f"Draft #{action.draft_id} · memory: 4 messages from 2 earlier exchanges")
    assert action.view.pending["memory"].tolist() == ["4 messages"]
    remembered.call(message_queries.mark_deleted, remembered.services.db, ALICE, [12])
    why = remembered.call(drafts.draft_why, ctx, action.draft_id).splitlines()
    assert f"{format_time(MONTH)} (messages 11, 12; deleted since: 12)" in why
    assert "  Me: (deleted)" in why and "  Alice: our dog Max ate my shoes" in why
    assert "poor shoes" not in "\n".join(why)
    sent = remembered.call(drafts.send, ctx, action.draft_id, action.text)
    assert sent.why == "" and sent.view.closed["memory"].tolist() == ["4 messages"]
    assert remembered.call(drafts.draft_why, ctx, action.draft_id) == "\n".join(why)  # closed drafts too
    assert remembered.call(drafts.draft_why, ctx, None) == ""


def test_a_draft_without_memory_says_why_as_far_as_it_can_be_told(remembered: PanelEnv, ctx: PanelContext) -> None:
    db = remembered.services.db
    old = remembered.call(reply_queries.create_draft, db, ALICE, "from before memory")
    none = remembered.call(reply_queries.create_draft, db, ALICE, "nothing recalled", None, [])
    assert remembered.call(drafts.drafts_view, ctx).pending["memory"].tolist() == ["none", "—"]
    not_recorded = remembered.call(drafts.draft_why, ctx, old.id)
    assert not_recorded == f"Draft #{old.id} · no memory: {NO_MEMORY_REASONS['not_recorded']}"
    assert remembered.call(drafts.draft_why, ctx, none.id).endswith(NO_MEMORY_REASONS["none_recorded"])
    remembered.model.format_memory = False  # what is served now has no memory: say so, as of now
    assert remembered.call(drafts.draft_why, ctx, none.id).endswith(
        f"{NO_MEMORY_REASONS['format_without_memory']} (as things stand now)")
    remembered.client.put(f"/api/chats/{ALICE}", json={"mode": "off"})
    assert remembered.call(drafts.draft_why, ctx, none.id).endswith(
        f"{NO_MEMORY_REASONS['chat_off']} (as things stand now)")
