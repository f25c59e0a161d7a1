"""Where uploaded exports live, how big they may be, and how long they stay.

Every upload lands under `<data dir>/uploads` (0700): a REST `/api/import` body as
`uploads/export-<random>.json`, a file the panel received in `uploads/panel/` (Gradio's upload dir,
`GRADIO_TEMP_DIR`). An upload is deleted when its import job ends, or at once when the import is
refused; whatever a crash or an abandoned upload left there is swept when the panel is mounted.
The panel imports only files inside `uploads/panel/`: a path anywhere else is refused and left alone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from pathlib import Path

from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from admin_ui.errors import UploadNotFromPanel, UploadTooLarge
from admin_ui.login import PANEL_PATH
from services import Services
from settings import Settings

log = logging.getLogger(__name__)

UPLOADS_DIR_NAME = "uploads"
PANEL_DIR_NAME = "panel"
MIB = 1 << 20
# The cap is on the file; the request body also carries the multipart framing (boundaries, part
# headers), a few hundred bytes in practice. The body limit allows that much on top, so an export
# just under the cap is not refused for its envelope, and Gradio's own per-file check (which
# deletes its partial file) is the one that stops an over-cap file sent without a Content-Length.
MULTIPART_ALLOWANCE = 64 * 1024
UPLOAD_PATHS = frozenset({"/api/import", f"{PANEL_PATH}/gradio_api/upload"})


def uploads_dir(settings: Settings) -> Path:
    return settings.data_dir / UPLOADS_DIR_NAME


def panel_uploads_dir(settings: Settings) -> Path:
    return uploads_dir(settings) / PANEL_DIR_NAME


def max_upload_bytes(settings: Settings) -> int:
    return settings.max_upload_mb * MIB


def _remove(entry: Path) -> None:
    """A file, a symlink (never followed) or a directory tree."""
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry)
    else:
        entry.unlink(missing_ok=True)


def prepare_uploads_dir(settings: Settings) -> Path:
    """Create `uploads/` and `uploads/panel/` as 0700 (narrowing looser ones), delete everything an
    earlier run left in them, and return the panel's upload dir."""
    root = uploads_dir(settings)
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(root, 0o700)  # mkdir's mode does not apply to a directory that already existed
    swept = 0
    for entry in root.iterdir():
        if entry.name == PANEL_DIR_NAME and entry.is_dir() and not entry.is_symlink():
            for leftover in entry.iterdir():
                _remove(leftover)
                swept += 1
            continue
        _remove(entry)
        swept += 1
    panel = panel_uploads_dir(settings)
    panel.mkdir(mode=0o700, exist_ok=True)
    os.chmod(panel, 0o700)
    if swept:
        log.info("removed %d leftover upload(s) from %s", swept, root)
    return panel


def panel_upload(settings: Settings, path: str) -> Path:
    """The file the panel's upload route stored at `path`, with symlinks resolved; anything that does
    not resolve inside `uploads/panel/` is refused (and never touched)."""
    root = panel_uploads_dir(settings).resolve()
    resolved = Path(path).resolve()
    if resolved == root or not resolved.is_relative_to(root):
        raise UploadNotFromPanel("only a file uploaded through this panel can be imported")
    if not resolved.is_file():
        raise UploadNotFromPanel("that upload is gone (imported or refused already): choose the file again")
    return resolved


def discard_upload(settings: Settings, path: Path) -> None:
    """Delete an upload, and the folders Gradio made for it once they are empty (never `uploads/` itself)."""
    path.unlink(missing_ok=True)
    root = uploads_dir(settings).resolve()
    kept = {root, panel_uploads_dir(settings).resolve()}
    parent = path.parent.resolve()
    while parent not in kept and parent.is_relative_to(root):
        with contextlib.suppress(OSError):  # not empty: another upload lives there
            parent.rmdir()
        parent = parent.parent


class UploadSizeLimit:
    """ASGI middleware capping the body of the two upload routes (`/api/import`, the panel's upload).

    A declared Content-Length over the cap is answered 413 before a byte is read, so nothing is
    written anywhere; a body without one (chunked) is counted as it arrives by Starlette's
    `RequestBodyLimitMiddleware`, which stops it at the cap. `services` is read per request (the
    app is built before anything is served)."""

    def __init__(self, app: ASGIApp, services: Services) -> None:
        self.app = app
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in UPLOAD_PATHS:
            await self.app(scope, receive, send)
            return
        settings = self.services.settings
        limit = max_upload_bytes(settings) + MULTIPART_ALLOWANCE
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            response = JSONResponse({"detail": str(UploadTooLarge(settings.max_upload_mb))}, status_code=413)
            await response(scope, receive, send)
            return
        await RequestBodyLimitMiddleware(self.app, limit)(scope, receive, send)
