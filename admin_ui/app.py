"""The one FastAPI app: REST under `/api`, `/health`, the login page, and the Gradio panel at `/ui`.

Built for the composition root (`application.runtime.run_product`, through `admin_ui.server.PanelServer`:
`run` and `serve`) from the same `Services` the bot uses, before the Telegram client starts; Gradio's
import (`import_panel`) runs in a thread first. Every action it offers is `application`'s.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from admin_ui.deps import DocsAuthorized
from admin_ui.errors import install_error_handlers
from admin_ui.login import PANEL_PATH, PanelLoginRedirect, panel_auth
from admin_ui.login import router as login_router
from admin_ui.origin import SameOriginWrites
from admin_ui.routes import api_router, health
from admin_ui.sessions import SessionStore
from admin_ui.throttle import FAILURE_LIMIT, TOTAL_FAILURE_LIMIT, WINDOW_S, FailureWindow, TokenAttemptLimit
from admin_ui.uploads import UploadSizeLimit
from application.jobs import JobRegistry
from application.uploads import max_upload_bytes, prepare_uploads_dir
from services import Services

API_DESCRIPTION = (
    "Every route except `GET /health` needs `Authorization: Bearer <admin token>`. "
    "Errors are `{\"detail\": \"...\"}`: 401 without a valid token, 404 for unknown ids, "
    "409 when the state forbids the action (Telegram offline, a run already going), 413 for an upload over "
    f"the cap, 422 for bad input, 429 after {FAILURE_LIMIT} wrong tokens from one address (or "
    f"{TOTAL_FAILURE_LIMIT} from all) within {WINDOW_S:.0f} s (see `Retry-After`)."
)


def import_panel() -> None:
    """Import Gradio and the panel's modules: seconds of work (17 s was seen on a slow disk) that
    must not hold the event loop, so the composition root runs it in a thread before `create_app`."""
    import gradio  # noqa: F401

    import admin_ui.panel  # noqa: F401


def create_app(services: Services, token: str, *, with_panel: bool = True) -> FastAPI:
    """`with_panel=False` skips building the Gradio panel (API-only tests)."""
    jobs = JobRegistry()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await jobs.cancel_all()

    app = FastAPI(
        title="tgtwin", description=API_DESCRIPTION, version="1.0",
        docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan,
    )
    app.state.services = services
    app.state.admin_token = token
    app.state.jobs = jobs
    app.state.sessions = sessions = SessionStore()
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(api_router)
    app.include_router(login_router)
    _add_docs(app)
    # Middleware runs outermost-last-added: CORS, wrong-token limit, same-origin writes, upload size,
    # the panel's login redirect, then the routes.
    if with_panel:
        _mount_panel(app, services, jobs, token, sessions)
        app.add_middleware(PanelLoginRedirect, token=token, sessions=sessions)
    app.add_middleware(UploadSizeLimit, services=services)
    app.add_middleware(SameOriginWrites, token=token)
    app.add_middleware(TokenAttemptLimit, token=token, failures=FailureWindow())
    # No cross-origin access at all. Also stops Gradio from adding its own CORS policy, which allows
    # any origin with credentials whenever the host name is not localhost.
    app.add_middleware(CORSMiddleware, allow_origins=[])
    return app


def _mount_panel(app: FastAPI, services: Services, jobs: JobRegistry, token: str, sessions: SessionStore) -> None:
    """The Gradio panel at `/ui`, reading uploaded files only from its own private upload dir."""
    # Gradio takes its upload dir from this variable alone, when each component is built and when
    # the app is mounted; so it is set first (process-wide: one panel per process).
    os.environ["GRADIO_TEMP_DIR"] = str(prepare_uploads_dir(services.settings))
    import gradio as gr

    from admin_ui.panel import PANEL_CSS, build_panel

    panel = build_panel(services, jobs)
    gr.mount_gradio_app(
        app, panel, path=PANEL_PATH, auth_dependency=panel_auth(token, sessions),
        footer_links=[], run_history=False, show_error=True, ssr_mode=False, css=PANEL_CSS,
        theme=gr.themes.Soft(primary_hue="orange"), max_file_size=max_upload_bytes(services.settings),
    )
    # Gradio refuses a file path named in an API call unless it lies in its upload dir, but only
    # once `launch()` has run (processing_utils._check_allowed returns early before that), and a
    # mounted app never launches: without this, a request naming any path on the server had it
    # copied into Gradio's cache. The flag gates nothing else in Gradio 6.31.
    panel.has_launched = True


def _add_docs(app: FastAPI) -> None:
    """The OpenAPI schema and Swagger UI, behind the same token (or the panel's login cookie)."""

    @app.get("/openapi.json", include_in_schema=False, dependencies=[DocsAuthorized])
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=[DocsAuthorized])
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="tgtwin API")

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse(PANEL_PATH + "/")
