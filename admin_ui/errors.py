"""Named errors of the admin layer, and the one place they (and storage's) become HTTP answers.

Routes and the panel raise these; `install_error_handlers` maps them to JSON `{"detail": ...}` with
the right status, so no route needs its own try/except and nothing surfaces as a 500.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from storage import InvalidValue, NotFound, WriteWaitTimeout

log = logging.getLogger(__name__)


class AdminError(Exception):
    """Base for errors the panel and the API report to the owner as they are."""

    status_code = 409


class TelegramUnavailable(AdminError):
    """The action needs the live Telegram client, which this process does not have."""

    def __init__(self, action: str) -> None:
        super().__init__(
            f"Telegram is not connected, so cannot {action}: run `python main.py run` after "
            "`python main.py login` (the `serve` command runs without Telegram)"
        )


class TelegramFailed(AdminError):
    """Telegram refused or failed a request (flood wait, peer invalid…)."""

    status_code = 502


class HarvestUnsupported(AdminError):
    """The connected Telegram gateway offers no harvest (the CLI's `harvest` does)."""


class TrainingUnavailable(AdminError):
    """This process has no training controller."""


class TrainingBusy(AdminError):
    """A training run is already going; runs never overlap."""


class InvalidPreset(AdminError):
    """No training preset by that name."""

    status_code = 422


class JobBusy(AdminError):
    """A background job of the same kind is still running."""


class JobNotFound(AdminError):
    """No background job with that id (jobs live in memory until restart)."""

    status_code = 404


class DraftClosed(AdminError):
    """The draft was already sent or discarded."""


class NothingToRollBack(AdminError):
    """No promotion happened yet, so there is nothing to go back to."""


class InvalidDialogue(AdminError):
    """A composed dialogue the model cannot answer (empty, or not ending with the partner)."""

    status_code = 422


class InvalidUpload(AdminError):
    """The uploaded file is empty or not a Telegram export."""

    status_code = 422


class UploadNotFromPanel(InvalidUpload):
    """The panel was asked to import a file it did not receive (a path elsewhere on the server, or
    an upload already deleted)."""


class UploadTooLarge(AdminError):
    """The upload is over `TGTWIN_MAX_UPLOAD_MB`."""

    status_code = 413

    def __init__(self, cap_mb: int) -> None:
        super().__init__(
            f"the upload is over the {cap_mb} MB cap (TGTWIN_MAX_UPLOAD_MB); raise it, or import the file "
            "on the server with `python main.py import-export <path>`"
        )


class ModelFailed(AdminError):
    """The model did not produce a reply (timeout, not loaded, backend down)."""

    status_code = 503


class ErrorOut(BaseModel):
    """Every error answer: one readable line."""

    detail: str


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorOut(ErrorOut):
    """A 422 for malformed input: the readable line, and which fields were wrong (values never echoed).
    Errors raised after validation (an unknown preset, an empty dialogue) carry `detail` only."""

    errors: list[FieldError] | None = None


_ERROR_DESCRIPTIONS = {
    400: "The request body could not be parsed (not UTF-8 JSON or form data).",
    401: "Missing or wrong admin token.",
    404: "No such id.",
    409: "The current state forbids the action (Telegram offline, a run or job already going, draft closed).",
    413: "The upload is over the cap (TGTWIN_MAX_UPLOAD_MB).",
    422: "Invalid input.",
    502: "Telegram refused the request.",
    503: "The model did not produce a reply.",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for the error statuses an operation can answer."""
    return {
        code: {"model": ValidationErrorOut if code == 422 else ErrorOut, "description": _ERROR_DESCRIPTIONS[code]}
        for code in codes
    }


def _json(status: int, detail: object) -> JSONResponse:
    return JSONResponse(status_code=status, content={"detail": detail})


def validation_message(exc: RequestValidationError) -> str:
    """Pydantic's error list → one readable line: `body.mode: Input should be 'off', 'draft' or 'auto'`."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "request"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AdminError)
    async def _admin_error(_: Request, exc: AdminError) -> JSONResponse:
        return _json(exc.status_code, str(exc))

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, exc: NotFound) -> JSONResponse:
        return _json(404, str(exc))

    @app.exception_handler(InvalidValue)
    async def _invalid(_: Request, exc: InvalidValue) -> JSONResponse:
        return _json(422, str(exc))

    @app.exception_handler(WriteWaitTimeout)
    async def _write_busy(_: Request, exc: WriteWaitTimeout) -> JSONResponse:
        # A long transaction (an import) held the write lock past the wait: busy, not broken.
        return JSONResponse(status_code=503, content={"detail": str(exc)}, headers={"Retry-After": "30"})

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            status_code=422,
            content={"detail": validation_message(exc), "errors": _safe_errors(exc)},
        )


def _safe_errors(exc: RequestValidationError) -> list[dict[str, object]]:
    """The structured list without echoing input values back (they may be message texts)."""
    return [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()]
