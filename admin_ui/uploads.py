"""The HTTP side of uploads: the body cap on the two upload routes. Where uploads live, their cap
and their clean-up are `application.uploads`."""

from __future__ import annotations

from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from admin_ui.login import PANEL_PATH
from application.errors import UploadTooLarge
from application.uploads import max_upload_bytes
from services import Services

# The cap is on the file; the request body also carries the multipart framing (boundaries, part
# headers), a few hundred bytes in practice. The body limit allows that much on top, so an export
# just under the cap is not refused for its envelope, and Gradio's own per-file check (which
# deletes its partial file) is the one that stops an over-cap file sent without a Content-Length.
MULTIPART_ALLOWANCE = 64 * 1024
UPLOAD_PATHS = frozenset({"/api/import", f"{PANEL_PATH}/gradio_api/upload"})


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
