"""Bad input at the API's edge: out-of-range integers, loose booleans, refused uploads, and the
error answers the OpenAPI schema promises."""

from __future__ import annotations

import asyncio

import pytest

from admin_ui.errors import ErrorOut, ValidationErrorOut
from application.jobs import ProgressReporter
from storage import chats as chat_queries
from tests.admin_ui.conftest import ALICE, PanelEnv

TOO_BIG, TOO_SMALL = 2**63, -(2**63) - 1


@pytest.mark.parametrize(("method", "path", "kwargs"), [
    ("GET", f"/api/chats/{TOO_BIG}", {}),
    ("GET", f"/api/chats/{TOO_SMALL}", {}),
    ("PUT", f"/api/chats/{TOO_BIG}", {"json": {"mode": "draft"}}),
    ("POST", "/api/drafts", {"json": {"chat_id": TOO_BIG}}),
    ("POST", f"/api/drafts/{TOO_BIG}/send", {}),
    ("POST", f"/api/drafts/{TOO_SMALL}/discard", {}),
    ("GET", f"/api/training/runs/{TOO_BIG}", {}),
    ("GET", f"/api/jobs/{2**70}", {}),
    ("GET", "/api/replies", {"params": {"chat_id": TOO_BIG}}),
    ("GET", "/api/replies", {"params": {"since": 10**30}}),
])
def test_integers_beyond_sqlite_are_422(env: PanelEnv, method: str, path: str, kwargs: dict) -> None:
    response = env.client.request(method, path, **kwargs)
    assert response.status_code == 422, response.text
    ValidationErrorOut.model_validate(response.json())
    assert "less than or equal" in response.json()["detail"] or "greater than or equal" in response.json()["detail"]


def test_the_largest_sqlite_integers_are_plain_404s(env: PanelEnv) -> None:
    assert env.client.get(f"/api/chats/{2**63 - 1}").status_code == 404
    assert env.client.get(f"/api/training/runs/{-(2**63)}").status_code == 404
    assert env.client.get("/api/replies", params={"chat_id": 2**63 - 1, "since": 2**63 - 1}).json() == []


@pytest.mark.parametrize("train", [0, 1, "yes", "true", 1.0])
def test_chat_train_must_be_a_real_boolean(env: PanelEnv, train: object) -> None:
    response = env.client.put(f"/api/chats/{ALICE}", json={"train": train})
    assert response.status_code == 422 and "train" in response.json()["detail"]
    assert env.call(chat_queries.get_chat, env.services.db, ALICE).train is None  # unchanged


def test_a_refused_upload_leaves_no_file_behind(env: PanelEnv) -> None:
    release = env.call(_hold_the_import_slot, env)
    uploads = env.services.settings.data_dir / "uploads"
    response = env.client.post("/api/import", files={"file": ("result.json", b'{"chats": {}}', "application/json")})
    assert response.status_code == 409 and "already running" in response.json()["detail"]
    ErrorOut.model_validate(response.json())
    assert list(uploads.iterdir()) == []
    env.call(release)


async def _hold_the_import_slot(env: PanelEnv):  # type: ignore[no-untyped-def]
    """An import job that runs until released, so the next upload finds the job busy."""
    gate = asyncio.Event()

    async def work(_: ProgressReporter) -> dict[str, int]:
        await gate.wait()
        return {}

    job = env.client.app.state.jobs.start("import", work)  # type: ignore[attr-defined]

    async def release() -> None:
        gate.set()
        await env.client.app.state.jobs.wait(job.id)  # type: ignore[attr-defined]

    return release


def _operation(schema: dict, path: str, method: str) -> dict:
    return schema["paths"][path][method]


def test_openapi_documents_the_error_answers(env: PanelEnv) -> None:
    schema = env.client.get("/openapi.json").json()
    ref = "#/components/schemas/"
    for path, operations in schema["paths"].items():
        if not path.startswith("/api"):
            continue
        for method, operation in operations.items():
            responses = operation["responses"]
            assert responses["401"]["content"]["application/json"]["schema"]["$ref"] == ref + "ErrorOut", (method, path)
            if "422" in responses:
                assert responses["422"]["content"]["application/json"]["schema"]["$ref"] == ref + "ValidationErrorOut"
    assert "HTTPValidationError" not in schema["components"]["schemas"]  # FastAPI's default 422 shape is not ours
    assert {"404"} <= set(_operation(schema, "/api/chats/{chat_id}", "get")["responses"])
    assert {"404", "409", "502"} <= set(_operation(schema, "/api/drafts/{draft_id}/send", "post")["responses"])
    assert {"409"} <= set(_operation(schema, "/api/import", "post")["responses"])
    assert {"409"} <= set(_operation(schema, "/api/training/runs", "post")["responses"])
    assert {"503"} <= set(_operation(schema, "/api/generate", "post")["responses"])
    assert {"404", "503"} <= set(_operation(schema, "/api/adapters/{adapter_id}/promote", "post")["responses"])


def test_validation_errors_match_their_schema(env: PanelEnv) -> None:
    response = env.client.put(f"/api/chats/{ALICE}", json={"mode": "loud"})
    assert response.status_code == 422
    body = ValidationErrorOut.model_validate(response.json())
    assert body.errors and body.errors[0].loc == ["body", "mode"] and "mode" in body.detail
