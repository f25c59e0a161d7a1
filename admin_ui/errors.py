"""The one place named errors (the actions' `application.errors`, storage's) become HTTP answers.

`install_error_handlers` maps them to JSON `{"detail": ...}` with the right status, so no route
needs its own try/except and nothing surfaces as a 500.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from application.errors import (
    ActionError,
    InvalidDialogue,
    InvalidPreset,
    InvalidUpload,
    JobNotFound,
    ModelFailed,
    TelegramFailed,
    UploadTooLarge,
)
from storage import InvalidValue, NotFound, WriteWaitTimeout

log = logging.getLogger(__name__)


STATUS_CODES: dict[type[ActionError], int] = {
    TelegramFailed: 502,
    InvalidPreset: 422,
    JobNotFound: 404,
    InvalidDialogue: 422,
    InvalidUpload: 422,
    UploadTooLarge: 413,
    ModelFailed: 503,
}
"""The HTTP status of each named action error (`application.errors`); a subclass answers as its
nearest listed base, and anything else as 409: the current state forbids the action."""


def status_code(exc: ActionError) -> int:
    return next((STATUS_CODES[kind] for kind in type(exc).__mro__ if kind in STATUS_CODES), 409)


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
    @app.exception_handler(ActionError)
    async def _action_error(_: Request, exc: ActionError) -> JSONResponse:
        return _json(status_code(exc), str(exc))

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
