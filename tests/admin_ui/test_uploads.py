"""Uploads: the panel imports only what its own upload route received, every upload is deleted after
its import (or its refusal) and swept at start, the upload dirs are private, and uploads over the cap
(`max_upload_mb`, 1 MB here) are answered 413 without leaving anything behind, on the panel and on
`POST /api/import` alike."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from admin_ui.uploads import MULTIPART_ALLOWANCE
from application.uploads import MIB, panel_uploads_dir, uploads_dir
from settings import Settings
from storage import NotFound
from storage import chats as chat_queries
from tests.admin_ui.conftest import PanelEnv
from tests.admin_ui.live import LiveServer, live_server
from tests.admin_ui.test_api import EXPORT

EXPORT_BYTES = json.dumps(EXPORT).encode()
DANA = 555  # the chat EXPORT holds


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"max_upload_mb": 1})


@pytest.fixture
def live(settings: Settings) -> Iterator[LiveServer]:
    with live_server(settings) as server:
        yield server


def _files(settings: Settings) -> list[Path]:
    """Every file under the uploads dir (Gradio also keeps an empty folder of its own there)."""
    return [p for p in uploads_dir(settings).rglob("*") if not p.is_dir()]


def _call_import(live: LiveServer, cookies: dict[str, str], path: str) -> str:
    """The panel's import button, as the browser calls it: the event, then its result stream."""
    url = f"{live.url}/ui/gradio_api/call/import_export"
    started = httpx.post(url, cookies=cookies, headers={"Origin": live.url},
                         json={"data": [{"path": path, "meta": {"_type": "gradio.FileData"}}]})
    assert started.status_code == 200, started.text
    return httpx.get(f"{url}/{started.json()['event_id']}", cookies=cookies, timeout=30).text


def _upload(live: LiveServer, cookies: dict[str, str], name: str, content: bytes) -> httpx.Response:
    return httpx.post(f"{live.url}/ui/gradio_api/upload", cookies=cookies, headers={"Origin": live.url},
                      files={"files": (name, content, "application/octet-stream")})


def _dana_imported(live: LiveServer) -> bool:
    try:
        live.call(chat_queries.get_chat(live.services.db, DANA))
    except NotFound:
        return False
    return True


def _wait_for_jobs(live: LiveServer) -> list[Any]:
    jobs = live.jobs
    for job in jobs.list():
        live.call(jobs.wait(job.id))
    return jobs.list()


def test_the_panel_refuses_files_it_did_not_receive(live: LiveServer, settings: Settings, tmp_path: Path) -> None:
    cookies = live.log_in()
    elsewhere = tmp_path / "elsewhere" / "result.json"  # a valid export, but not uploaded
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(EXPORT_BYTES)
    link = panel_uploads_dir(settings) / "link.json"  # a symlink inside the upload dir, pointing out
    link.symlink_to(elsewhere)
    for path in ("/etc/passwd", str(settings.db_path), str(elsewhere), str(link),
                 str(panel_uploads_dir(settings) / ".." / ".." / "tgtwin.sqlite3")):
        result = _call_import(live, cookies, path)
        assert "event: error" in result and "event: complete" not in result, (path, result)
    assert [p for p in _files(settings) if p != link] == []  # nothing was copied anywhere in
    assert elsewhere.read_bytes() == EXPORT_BYTES and settings.db_path.exists()  # nor touched
    assert live.jobs.list() == [] and not _dana_imported(live)


def test_a_panel_upload_imports_and_is_deleted_after(live: LiveServer, settings: Settings) -> None:
    cookies = live.log_in()
    uploaded = _upload(live, cookies, "result.json", EXPORT_BYTES)
    assert uploaded.status_code == 200, uploaded.text
    path = Path(uploaded.json()[0])
    assert path.is_relative_to(panel_uploads_dir(settings)) and path.read_bytes() == EXPORT_BYTES
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for private in (uploads_dir(settings), panel_uploads_dir(settings)):
        assert stat.S_IMODE(private.stat().st_mode) == 0o700
    assert "event: complete" in _call_import(live, cookies, str(path))
    [job] = _wait_for_jobs(live)
    assert job.status == "succeeded" and job.result["messages_added"] == 2
    assert _dana_imported(live) and _files(settings) == [] and not path.parent.exists()

    # A failed import (not an export) and a refused one (not JSON) leave nothing behind either.
    broken = Path(_upload(live, cookies, "result.json", b"{not json").json()[0])
    assert "event: complete" in _call_import(live, cookies, str(broken))
    assert [j.status for j in _wait_for_jobs(live)] == ["failed", "succeeded"]
    notes = Path(_upload(live, cookies, "notes.txt", b"hello").json()[0])
    refused = _call_import(live, cookies, str(notes))
    assert "event: error" in refused and "result.json" in refused
    assert _files(settings) == []
    gone = _call_import(live, cookies, str(path))  # the same upload again: deleted, so refused
    assert "event: error" in gone and "choose the file again" in gone


def test_an_over_cap_panel_upload_is_refused_and_leaves_nothing(live: LiveServer, settings: Settings) -> None:
    cookies = live.log_in()
    for size in (MIB + 1, MIB + MULTIPART_ALLOWANCE + 1):  # Gradio's per-file check; the body cap
        response = _upload(live, cookies, "result.json", b" " * size)
        assert response.status_code == 413, (size, response.text)
    assert _files(settings) == []
    assert _upload(live, cookies, "result.json", EXPORT_BYTES).status_code == 200  # under the cap: fine


def test_leftover_uploads_are_swept_at_start(settings: Settings) -> None:
    leftovers = [uploads_dir(settings) / "export-0123456789abcdef.json",
                 panel_uploads_dir(settings) / "9d1f" / "result.json"]
    for path in leftovers:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(EXPORT_BYTES)
    uploads_dir(settings).chmod(0o755)
    with live_server(settings):
        assert _files(settings) == []
        assert stat.S_IMODE(uploads_dir(settings).stat().st_mode) == 0o700


MULTIPART = {"Content-Type": "multipart/form-data; boundary=b"}


def _multipart(mib: int, sent: list[int]) -> Iterator[bytes]:
    """A multipart body with one file of `mib` MiB, noting each MiB the server reads."""
    yield b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"result.json\"\r\n\r\n"
    for _ in range(mib):
        sent.append(MIB)
        yield b" " * MIB
    yield b"\r\n--b--\r\n"


def test_the_rest_import_is_capped_too(env: PanelEnv, settings: Settings) -> None:
    just_over = env.client.post("/api/import", files={"file": ("result.json", b" " * (MIB + 1), "application/json")})
    assert just_over.status_code == 413 and "1 MB cap (TGTWIN_MAX_UPLOAD_MB)" in just_over.json()["detail"]

    sent: list[int] = []  # a declared length over the cap: refused before the body is read
    declared = env.client.post("/api/import", content=_multipart(3, sent),
                               headers={**MULTIPART, "Content-Length": str(3 * MIB + 200)})
    assert declared.status_code == 413 and "1 MB cap" in declared.json()["detail"] and sent == []

    chunked = env.client.post("/api/import", content=_multipart(3, []), headers=MULTIPART)  # no length: counted
    assert chunked.status_code == 413 and "Content-Length" not in chunked.request.headers
    assert not uploads_dir(settings).exists() or _files(settings) == []
    assert env.client.app.state.jobs.list() == []  # type: ignore[attr-defined]
