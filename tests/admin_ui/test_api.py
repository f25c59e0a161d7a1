"""Every REST route through TestClient, against a seeded database and deterministic fakes."""

from __future__ import annotations

import json

import pytest

from storage import chats as chat_queries
from storage import kv
from storage import replies as reply_queries
from storage import training as training_queries
from tests.admin_ui.conftest import ALICE, EMPTY, TEAM, PanelEnv, last_dialogue
from tests.admin_ui.fakes import FakeTelegram


def _detail(response) -> str:  # type: ignore[no-untyped-def]
    body = response.json()
    assert set(body) <= {"detail", "errors"}
    return body["detail"]


# ------------------------------------------------------------------ status, switch
def test_status(env: PanelEnv) -> None:
    body = env.client.get("/api/status").json()
    assert body["counts"] == {"chats": 3, "messages": 4, "owner_messages": 1, "pending_drafts": 0,
                              "auto_chats": 0, "draft_chats": 0, "adapters": 2}
    assert body["autoreply_enabled"] is True
    assert body["model"]["state"] == "ready" and body["adapter"] is None
    assert body["telegram"] == {"configured": False, "connected": True}
    assert body["training"]["last_run"]["status"] == "succeeded" and body["training"]["running"] is False
    assert body["scheduler"]["enabled"] is False
    assert body["training"]["processes"] == 1 and body["training"]["last_run"]["error"] is None
    assert body["preference_pairs"] == {"total": 0, "unused": 0, "edited": 0, "own_reply": 0}


def test_autoreply_switch(env: PanelEnv) -> None:
    assert env.client.put("/api/autoreply", json={"enabled": False}).json() == {"enabled": False}
    assert env.call(kv.get_value, env.services.db, kv.AUTOREPLY_ENABLED) is False
    assert env.client.get("/api/status").json()["autoreply_enabled"] is False
    assert env.client.put("/api/autoreply", json={"enabled": True}).json() == {"enabled": True}


@pytest.mark.parametrize("body", [{}, {"enabled": "yes"}, {"enabled": 1}, {"on": True}])
def test_autoreply_bad_input(env: PanelEnv, body: dict) -> None:
    response = env.client.put("/api/autoreply", json=body)
    assert response.status_code == 422 and "enabled" in _detail(response)


# ------------------------------------------------------------------ chats
def test_list_and_search_chats(env: PanelEnv) -> None:
    chats = {c["id"]: c for c in env.client.get("/api/chats").json()}
    assert set(chats) == {ALICE, TEAM, EMPTY}
    assert (chats[ALICE]["messages"], chats[ALICE]["owner_messages"], chats[ALICE]["mode"]) == (3, 1, "off")
    assert chats[EMPTY]["messages"] == 0
    assert [c["id"] for c in env.client.get("/api/chats", params={"search": "ali"}).json()] == [ALICE]
    assert env.client.get("/api/chats", params={"limit": 0}).status_code == 422


def test_chat_detail_and_404(env: PanelEnv) -> None:
    detail = env.client.get(f"/api/chats/{ALICE}").json()
    assert detail["decisions"] == {"skipped": 1} and detail["last_message_at"] is not None
    missing = env.client.get("/api/chats/999")
    assert missing.status_code == 404 and "999" in _detail(missing)
    assert env.client.get("/api/chats/abc").status_code == 422


def test_chat_detail_counts_that_chat_only(env: PanelEnv) -> None:
    """Each figure comes from the chat's own rows, however many other chats hold: a thousand newer
    pending drafts elsewhere do not hide this chat's one, and more than a thousand decisions count."""

    async def seed(db) -> None:  # type: ignore[no-untyped-def]
        async with db.atomic():
            await reply_queries.create_draft(db, ALICE, "see you at 8")
            for i in range(1001):
                await reply_queries.create_draft(db, TEAM, f"ok {i}")
                await reply_queries.log_decision(db, ALICE, None, "answered", "test")

    env.call(seed, env.services.db)
    alice = env.client.get(f"/api/chats/{ALICE}").json()
    assert (alice["messages"], alice["owner_messages"], alice["pending_drafts"]) == (3, 1, 1)
    assert alice["decisions"] == {"skipped": 1, "answered": 1001}
    team = env.client.get(f"/api/chats/{TEAM}").json()
    assert (team["messages"], team["pending_drafts"], team["decisions"]) == (1, 1001, {"skipped": 1})


def test_update_chat_settings(env: PanelEnv) -> None:
    updated = env.client.put(f"/api/chats/{ALICE}", json={"mode": "auto", "relationship": " friend "}).json()
    assert (updated["mode"], updated["relationship"]) == ("auto", "friend")
    kept = env.client.put(f"/api/chats/{ALICE}", json={"train": False}).json()
    assert (kept["mode"], kept["relationship"], kept["train"]) == ("auto", "friend", False)
    cleared = env.client.put(f"/api/chats/{ALICE}", json={"relationship": None}).json()
    assert cleared["relationship"] is None and cleared["mode"] == "auto"
    assert env.client.get("/api/status").json()["counts"]["auto_chats"] == 1


def test_confirm_relationship_suggestion(env: PanelEnv) -> None:
    url = f"/api/chats/{ALICE}/relationship/confirm"
    nothing = env.client.post(url)
    assert nothing.status_code == 422 and "no relationship suggestion" in _detail(nothing)
    env.call(chat_queries.set_relationship_suggestion, env.services.db, ALICE, "family", "title says Mom")
    listed = {c["id"]: c for c in env.client.get("/api/chats").json()}[ALICE]
    assert (listed["relationship"], listed["relationship_suggestion"], listed["relationship_reason"]) == (
        None, "family", "title says Mom")
    confirmed = env.client.post(url).json()
    assert (confirmed["relationship"], confirmed["relationship_suggestion"]) == ("family", "family")
    assert env.client.get(f"/api/chats/{ALICE}").json()["relationship"] == "family"
    assert env.client.post("/api/chats/999/relationship/confirm").status_code == 404
    assert env.client.post(f"/api/chats/{2**63}/relationship/confirm").status_code == 422
    assert env.anonymous.post(url).status_code == 401


def test_update_chat_bad_input_and_unknown(env: PanelEnv) -> None:
    bad = env.client.put(f"/api/chats/{ALICE}", json={"mode": "sometimes"})
    assert bad.status_code == 422 and "mode" in _detail(bad) and "sometimes" not in json.dumps(bad.json()["errors"])
    assert env.client.put(f"/api/chats/{ALICE}", json={"relationship": "x" * 41}).status_code == 422
    assert env.client.put("/api/chats/999", json={"mode": "auto"}).status_code == 404


# ------------------------------------------------------------------ drafts
def test_suggest_draft_from_history_plus_new_message(env: PanelEnv) -> None:
    env.client.put(f"/api/chats/{ALICE}", json={"relationship": "friend"})
    response = env.client.post("/api/drafts", json={"chat_id": ALICE, "message": "and bring wine"})
    assert response.status_code == 201
    draft = response.json()
    assert draft["messages"] == ["sure", "re: and bring wine"] and draft["status"] == "pending"
    assert draft["text"] == "sure\nre: and bring wine" and draft["telegram_draft_saved"] is True
    assert env.telegram.saved_drafts == [(ALICE, "sure\nre: and bring wine")]
    dialogue = last_dialogue(env.model)
    assert dialogue.relationship == "friend" and dialogue.partner_name == "Alice"
    assert dialogue.turns[-1].messages == ("fine. dinner tonight?", "and bring wine")
    listed = env.client.get("/api/drafts", params={"status": "pending"}).json()
    assert [d["id"] for d in listed] == [draft["id"]]


def test_suggest_draft_errors(env: PanelEnv) -> None:
    assert env.client.post("/api/drafts", json={"chat_id": 999}).status_code == 404
    empty = env.client.post("/api/drafts", json={"chat_id": EMPTY})
    assert empty.status_code == 422 and "message" in _detail(empty)
    assert env.client.post("/api/drafts", json={"chat_id": EMPTY, "message": "hello?"}).status_code == 201
    assert env.client.post("/api/drafts", json={"message": "no chat"}).status_code == 422
    assert env.client.get("/api/drafts", params={"status": "lost"}).status_code == 422
    env.model.fail = True
    failed = env.client.post("/api/drafts", json={"chat_id": ALICE})
    assert failed.status_code == 503 and "TimeoutError" in _detail(failed)


def test_send_edited_draft_keeps_both_texts(env: PanelEnv) -> None:
    draft = env.client.post("/api/drafts", json={"chat_id": ALICE}).json()
    sent = env.client.post(f"/api/drafts/{draft['id']}/send", json={"text": "yes!\n\n  see you at 8 "})
    assert sent.status_code == 200
    body = sent.json()
    assert body["status"] == "sent" and body["sent_messages"] == ["yes!", "see you at 8"]
    assert body["messages"] == ["sure", "re: fine. dinner tonight?"]
    assert env.telegram.sent == [(ALICE, ["yes!", "see you at 8"])]
    assert env.telegram.saved_drafts[-1] == (ALICE, "")  # the input box no longer holds the suggestion
    log = env.call(reply_queries.list_decisions, env.services.db, ALICE)
    assert log[0].decision == "answered" and "edited" in log[0].reason and len(log[0].sent_message_ids) == 2
    again = env.client.post(f"/api/drafts/{draft['id']}/send")
    assert again.status_code == 409 and "already sent" in _detail(again)
    assert env.client.post(f"/api/drafts/{draft['id']}/discard").status_code == 409
    assert len(env.telegram.sent) == 1


def test_send_unedited_and_discard(env: PanelEnv) -> None:
    first = env.client.post("/api/drafts", json={"chat_id": ALICE}).json()
    second = env.client.post("/api/drafts", json={"chat_id": ALICE}).json()
    assert env.client.post(f"/api/drafts/{first['id']}/send").json()["sent_messages"] == first["messages"]
    assert env.client.post(f"/api/drafts/{second['id']}/discard").json()["status"] == "discarded"
    assert env.client.post(f"/api/drafts/{second['id']}/send", json={"messages": ["x"]}).status_code == 409
    assert env.client.post("/api/drafts/999/send").status_code == 404
    assert env.client.post("/api/drafts/999/discard").status_code == 404


def test_send_needs_telegram_and_text(env: PanelEnv) -> None:
    draft = env.client.post("/api/drafts", json={"chat_id": ALICE}).json()
    blank = env.client.post(f"/api/drafts/{draft['id']}/send", json={"text": "  \n "})
    assert blank.status_code == 422
    env.services.telegram = None
    offline = env.client.post(f"/api/drafts/{draft['id']}/send")
    assert offline.status_code == 409 and "Telegram is not connected" in _detail(offline)
    env.services.telegram = FakeTelegram(connected=False)
    assert env.client.post(f"/api/drafts/{draft['id']}/send").status_code == 409
    assert env.call(reply_queries.get_draft, env.services.db, draft["id"]).status == "pending"
    suggested = env.client.post("/api/drafts", json={"chat_id": ALICE}).json()
    assert suggested["telegram_draft_saved"] is False


# ------------------------------------------------------------------ generate
def test_generate(env: PanelEnv) -> None:
    body = {"messages": [{"from": "partner", "text": "hi"}, {"from": "owner", "text": "hey"},
                         {"from": "partner", "text": "lunch?"}, {"from": "partner", "text": "at 1"}],
            "relationship": "work"}
    out = env.client.post("/api/generate", json=body).json()
    assert (out["messages"], out["candidates"]) == (["sure", "re: at 1"], [["sure", "re: at 1"]])
    dialogue = last_dialogue(env.model)
    assert [t.role for t in dialogue.turns] == ["partner", "owner", "partner"]
    assert dialogue.turns[-1].messages == ("lunch?", "at 1") and dialogue.relationship == "work"
    many = env.client.post("/api/generate", json={**body, "n": 3}).json()
    assert len(many["candidates"]) == 3 and many["messages"] == many["candidates"][0]


@pytest.mark.parametrize("body, words", [
    ({"messages": []}, "messages"),
    ({"messages": [{"from": "owner", "text": "hi"}]}, "partner"),
    ({"messages": [{"from": "bot", "text": "hi"}]}, "from"),
    ({"messages": [{"from": "partner", "text": ""}]}, "text"),
    ({"messages": [{"from": "partner", "text": "   "}]}, "no messages"),
    ({"messages": [{"from": "partner", "text": "hi"}], "n": 99}, "n"),
    ({"text": "hi"}, "messages"),
])
def test_generate_bad_input(env: PanelEnv, body: dict, words: str) -> None:
    response = env.client.post("/api/generate", json=body)
    assert response.status_code == 422 and words in _detail(response)


# ------------------------------------------------------------------ import, harvest, jobs
EXPORT = {
    "personal_information": {"user_id": 1, "first_name": "Me"},
    "chats": {"list": [{"name": "Dana", "type": "personal_chat", "id": 555, "messages": [
        {"id": 1, "type": "message", "date": "2025-01-01T10:00:00", "date_unixtime": "1735725600",
         "from": "Dana", "from_id": "user555", "text": "hello"},
        {"id": 2, "type": "message", "date": "2025-01-01T10:01:00", "date_unixtime": "1735725660",
         "from": "Me", "from_id": "user1", "text": "hi Dana"},
    ]}]},
}


def test_import_runs_as_a_background_job(env: PanelEnv) -> None:
    files = {"file": ("result.json", json.dumps(EXPORT).encode(), "application/json")}
    response = env.client.post("/api/import", files=files)
    assert response.status_code == 202 and response.json()["kind"] == "import"
    job_id = response.json()["id"]
    env.call(env.client.app.state.jobs.wait, job_id)  # type: ignore[attr-defined]
    job = env.client.get(f"/api/jobs/{job_id}").json()
    assert job["status"] == "succeeded", job
    assert job["result"]["messages_added"] == 2 and job["progress"] == 1.0
    assert [c["id"] for c in env.client.get("/api/chats", params={"search": "Dana"}).json()] == [555]
    assert not list((env.services.settings.data_dir / "uploads").iterdir())
    assert [j["id"] for j in env.client.get("/api/jobs").json()] == [job_id]


def test_import_of_a_broken_export_fails_as_a_job(env: PanelEnv) -> None:
    response = env.client.post("/api/import", files={"file": ("result.json", b"{not json", "application/json")})
    job_id = response.json()["id"]
    env.call(env.client.app.state.jobs.wait, job_id)  # type: ignore[attr-defined]
    job = env.client.get(f"/api/jobs/{job_id}").json()
    assert job["status"] == "failed" and job["error"]


def test_import_bad_uploads(env: PanelEnv) -> None:
    assert env.client.post("/api/import").status_code == 422
    wrong = env.client.post("/api/import", files={"file": ("notes.txt", b"hello", "text/plain")})
    assert wrong.status_code == 422 and "result.json" in _detail(wrong)
    empty = env.client.post("/api/import", files={"file": ("result.json", b"", "application/json")})
    assert empty.status_code == 422 and "empty" in _detail(empty)
    assert env.client.get("/api/jobs/42").status_code == 404


def test_harvest(env: PanelEnv) -> None:
    response = env.client.post("/api/harvest")
    assert response.status_code == 202
    env.call(env.client.app.state.jobs.wait, response.json()["id"])  # type: ignore[attr-defined]
    job = env.client.get(f"/api/jobs/{response.json()['id']}").json()
    assert job["status"] == "succeeded" and job["result"] == {"chats": 2, "messages": 7}
    assert env.telegram.harvests == 1


def test_harvest_needs_telegram(env: PanelEnv) -> None:
    env.services.telegram = None
    response = env.client.post("/api/harvest")
    assert response.status_code == 409 and "Telegram is not connected" in _detail(response)
    env.services.telegram = FakeTelegram(connected=False)
    assert env.client.post("/api/harvest").status_code == 409


# ------------------------------------------------------------------ training, adapters
def test_training_runs(env: PanelEnv) -> None:
    runs = env.client.get("/api/training/runs").json()
    assert [r["status"] for r in runs] == ["succeeded"]
    assert {"loss_curve", "report"}.isdisjoint(runs[0])  # the list carries summaries
    run = env.client.get(f"/api/training/runs/{runs[0]['id']}").json()
    assert run["loss_curve"] == [[1, 3.2], [2, 2.9], [3, 2.5]]
    assert run["report"]["evaluation"]["perplexity"]["new"] == 12.5
    assert env.client.get("/api/training/runs/999").status_code == 404
    started = env.client.post("/api/training/runs", json={"preset": "tiny"})
    assert started.status_code == 202 and env.training.started == [("api", "tiny")]
    assert env.client.get(f"/api/training/runs/{started.json()['run_id']}").json()["status"] == "running"
    busy = env.client.post("/api/training/runs")
    assert busy.status_code == 409 and "already" in _detail(busy)


def test_training_bad_preset_and_no_controller(env: PanelEnv) -> None:
    bad = env.client.post("/api/training/runs", json={"preset": "huge-gpu-thing"})
    assert bad.status_code == 422 and "tiny" in _detail(bad)
    env.services.training = None
    assert env.client.post("/api/training/runs").status_code == 409


def test_adapters_promote_and_rollback(env: PanelEnv) -> None:
    adapters = env.client.get("/api/adapters").json()
    assert {a["id"] for a in adapters} == {"adapter-1", "adapter-2"} and not any(a["promoted"] for a in adapters)
    nothing = env.client.post("/api/adapters/rollback")
    assert nothing.status_code == 409
    promoted = env.client.post("/api/adapters/adapter-1/promote", json={"reason": "looks good"}).json()
    assert promoted["adapter"]["id"] == "adapter-1" and env.model.adapter == "/adapters/adapter-1"
    env.client.post("/api/adapters/adapter-2/promote")
    assert [a["id"] for a in env.client.get("/api/adapters").json() if a["promoted"]] == ["adapter-2"]
    back = env.client.post("/api/adapters/rollback").json()
    assert back["adapter"]["id"] == "adapter-1" and env.model.adapter == "/adapters/adapter-1"
    assert env.call(training_queries.promoted_adapter, env.services.db).id == "adapter-1"
    assert env.client.post("/api/adapters/missing/promote").status_code == 404


# ------------------------------------------------------------------ reply log
def test_reply_log(env: PanelEnv) -> None:
    entries = env.client.get("/api/replies").json()
    assert [e["chat_id"] for e in entries] == [TEAM, ALICE]
    assert entries[1]["reason"] == "chat not whitelisted" and entries[1]["decision"] == "skipped"
    assert [e["chat_id"] for e in env.client.get("/api/replies", params={"chat_id": ALICE}).json()] == [ALICE]
    assert env.client.get("/api/replies", params={"limit": 0}).status_code == 422


def test_openapi_documents_the_models(env: PanelEnv) -> None:
    schema = env.client.get("/openapi.json").json()
    models = {"StatusOut", "ChatView", "ChatDetail", "DraftOut", "GenerateIn", "JobOut", "RunSummary", "TrainingRun",
              "AdapterOut", "ReplyLogEntry"}
    assert models <= set(schema["components"]["schemas"])
    # Answers are the views' and rows' own dataclasses; their field descriptions reach the schema,
    # inherited ones too (a ChatDetail is a ChatView, a TrainingRun a RunSummary, an AdapterOut an Adapter).
    properties = {name: schema["components"]["schemas"][name]["properties"] for name in models}
    assert "not used until confirmed" in properties["ChatDetail"]["relationship_suggestion"]["description"]
    assert properties["TrainingRun"]["loss_curve"]["description"] == "[[step, loss], ...]"
    assert {"loss_curve", "report"}.isdisjoint(properties["RunSummary"])
    assert {"base_model", "promoted"} <= set(properties["AdapterOut"])
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_harvest_with_a_gateway_that_cannot_harvest(env: PanelEnv) -> None:
    class SendOnlyTelegram:
        connected = True

        async def send_messages(self, chat_id: int, messages: list[str]) -> list[int]:
            return []

        async def save_draft(self, chat_id: int, text: str) -> None:
            return None

    env.services.telegram = SendOnlyTelegram()
    response = env.client.post("/api/harvest")
    assert response.status_code == 409 and "main.py harvest" in _detail(response)
