"""Schemathesis over the wire: every operation of the REST API, with the token, on bounded examples
(schema examples, boundary "coverage" cases such as integers just past SQLite's range, and generated
ones). No answer may be a 5xx, and every answer (status, content type, body) must be what the OpenAPI
schema promises. One server (the seeded database and the fakes) serves the whole module."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from admin_ui.app import create_app
from settings import load_settings
from tests.admin_ui.conftest import TOKEN
from tests.admin_ui.live import LiveServer, live_server

AUTH = {"Authorization": f"Bearer {TOKEN}"}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

# The schema the running app serves; building it needs no services (it describes the routes only).
schema = schemathesis.openapi.from_dict(create_app(None, TOKEN, with_panel=False).openapi())  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with pytest.MonkeyPatch.context() as patch:
        for key in [k for k in os.environ if k.startswith("TGTWIN_")]:
            patch.delenv(key)
        data = tmp_path_factory.mktemp("schema") / "data"
        with live_server(load_settings(data_dir=data, base_model="tiny"), with_panel=False) as server:
            yield server


def test_every_route_is_in_the_schema() -> None:
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 18 and any(op.path == "/api/chats/{chat_id}" for op in operations)


@schema.parametrize()
@hypothesis_settings(max_examples=10, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_operation_answers_as_documented(case: Any, api: LiveServer) -> None:
    case.call_and_validate(base_url=api.url, headers=AUTH, checks=CHECKS, timeout=10)
