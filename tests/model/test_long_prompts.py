"""Long valid prompts through `POST /api/generate` with the real model service (tiny model, both
engines): 200 messages of 4,096 characters get a reply, not a 503 (the prompt is cut to the model's
window, newest turns kept: `model.context_window`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from anyio.from_thread import start_blocking_portal
from fastapi.testclient import TestClient

from admin_ui.app import create_app
from model.service import ModelService
from services import Services
from settings import Settings
from storage import Database
from tests.admin_ui.conftest import TOKEN, make_client
from tests.model.test_context_window import long_message


@pytest.fixture(params=["torch", "ct2"])
def api(model_settings: Settings, request: pytest.FixtureRequest) -> Iterator[TestClient]:
    settings = model_settings.model_copy(update={"serving_engine": request.param, "max_new_tokens": 8,
                                                 "generation_timeout_s": 60.0})
    with start_blocking_portal() as portal, contextlib.ExitStack() as stack:
        db = stack.enter_context(portal.wrap_async_context_manager(Database.open(settings.db_path)))
        model = stack.enter_context(portal.wrap_async_context_manager(ModelService(settings)))
        app = create_app(Services(settings=settings, db=db, model=model), TOKEN, with_panel=False)
        yield make_client(app, portal, TOKEN)


@pytest.mark.parametrize("shape", ["one burst of the partner", "alternating turns"])
def test_200_messages_of_4096_characters_get_a_reply(api: TestClient, shape: str) -> None:
    if shape == "alternating turns":
        speakers = ["owner" if i % 2 == 0 else "partner" for i in range(200)]
    else:
        speakers = ["partner"] * 200
    body = {"messages": [{"from": s, "text": long_message(i)} for i, s in enumerate(speakers)], "n": 2}
    response = api.post("/api/generate", json=body)
    assert response.status_code == 200, response.text
    candidates = response.json()["candidates"]
    assert 1 <= len(candidates) <= 2 and all(isinstance(m, str) for c in candidates for m in c)
