"""FastAPI dependencies as `Annotated` aliases (full-stack-fastapi-template style).

`create_app` puts the services, the job registry and the token on `app.state`; routes declare what
they need (`services: ServicesDep`) and protected routers depend on `Authorized`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from admin_ui.auth import SESSION_COOKIE, token_matches
from application.jobs import JobRegistry
from services import Services
from settings import Settings
from storage import Database

_bearer = HTTPBearer(auto_error=False, description="The admin token (TGTWIN_ADMIN_TOKEN or the generated one).")

UNAUTHORIZED = HTTPException(
    status_code=status.HTTP_401_UNAUTHORIZED,
    detail="not authenticated",
    headers={"WWW-Authenticate": "Bearer"},
)


def get_services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def get_db(request: Request) -> Database:
    return get_services(request).db


def get_settings(request: Request) -> Settings:
    return get_services(request).settings


def get_jobs(request: Request) -> JobRegistry:
    return request.app.state.jobs  # type: ignore[no-any-return]


def require_token(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """Bearer token, compared in constant time. A failure says nothing about why."""
    candidate = credentials.credentials if credentials is not None else None
    if not token_matches(candidate, request.app.state.admin_token):
        raise UNAUTHORIZED


def require_token_or_session(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """The API docs: a bearer token, or the panel's login cookie (so a logged-in browser can read them)."""
    token = request.app.state.admin_token
    candidate = credentials.credentials if credentials is not None else None
    session = request.cookies.get(SESSION_COOKIE)
    if not (token_matches(candidate, token) or request.app.state.sessions.is_valid(session)):
        raise UNAUTHORIZED


ServicesDep = Annotated[Services, Depends(get_services)]
DbDep = Annotated[Database, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
JobsDep = Annotated[JobRegistry, Depends(get_jobs)]
Authorized = Depends(require_token)
DocsAuthorized = Depends(require_token_or_session)
