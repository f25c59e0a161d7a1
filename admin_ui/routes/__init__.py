"""One router per resource; `api_router` gathers the protected ones under `/api`."""

from fastapi import APIRouter

from admin_ui.deps import Authorized
from admin_ui.errors import error_responses
from admin_ui.routes import autoreply, chats, drafts, generate, jobs, replies, status, training

api_router = APIRouter(prefix="/api", dependencies=[Authorized], responses=error_responses(400, 401, 422))
for _module in (status, autoreply, chats, drafts, generate, jobs, training, replies):
    api_router.include_router(_module.router)
