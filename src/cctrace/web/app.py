"""The FastAPI application factory."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from swagger_ui_bundle import swagger_ui_path

from cctrace.config import SiteConfig
from cctrace.errors import (
    CctraceError,
    ConfigError,
    NotFoundError,
    PhotoError,
    QueryError,
    StoreError,
)
from cctrace.i18n import N_, gettext, set_language, use_language
from cctrace.ingest.models import ModelSet
from cctrace.store.records import AlreadyExistsError, InvalidInputError, TraceJobRecord
from cctrace.store.repository import Store

from .deps import UNSAFE_METHODS, AuthError, authorize, route_permission, session_token
from .jobs import ProgressFn, TraceJobs
from .language import request_language
from .pages import templates
from .routers import admin, audit, auth, cases, contacts, docs, media, pages, siteplan
from .services import run_trace_job
from .settings import WebSettings
from .state import AppState
from .warmup import warm_up

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
JSON_BODY_LIMIT = 1024 * 1024
"""Largest request body except a trace's photo upload (5 photos at the upload limit)."""
TRACE_UPLOAD_PATH = re.compile(r"^/api/cases/[^/]+/traces$")


def too_large_message(limit: int) -> str:
    """What a 413 says."""
    return gettext("request body over the {mb} MB this route accepts").format(
        mb=f"{limit / (1024 * 1024):.1f}"
    )


class BodyLimitMiddleware:
    """Counts the bytes of every request body as they arrive (chunked ones included) and
    stops at the route's limit with a 413, whatever Content-Length claimed."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise HTTPException(413, too_large_message(limit))
            return message

        await self.app(scope, counted, send)


PUBLIC_POSTS = frozenset({"/login", "/api/auth/login"})
SERVER_ERROR_MESSAGES = {
    "store_unavailable": N_("the database is unavailable or busy; try again in a moment"),
    "config": N_("the server is misconfigured; tell the administrator"),
}
HTTP_DETAILS = {
    # Starlette's default details, marked for translation
    "Not Found": N_("Not Found"),
    "Method Not Allowed": N_("Method Not Allowed"),
}
DOCS_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"
)
"""Swagger UI starts itself with an inline script; its files come from this server."""
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


def _status_for(exc: CctraceError) -> tuple[int, str]:
    from cctrace.report.evidence import EvidenceUnavailableError
    from cctrace.report.frames import FrameUnavailableError

    if isinstance(exc, EvidenceUnavailableError | FrameUnavailableError):
        return 404, "evidence_unavailable"
    if isinstance(exc, NotFoundError):
        return 404, "not_found"
    if isinstance(exc, AlreadyExistsError):
        return 409, "already_exists"
    if isinstance(exc, PhotoError):
        return 422, "bad_photo"
    if isinstance(exc, QueryError | InvalidInputError):
        return 400, "bad_request"
    if isinstance(exc, ConfigError):
        return 500, "config"
    if isinstance(exc, StoreError):
        return 503, "store_unavailable"
    return 400, "error"


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api") and "text/html" in request.headers.get(
        "accept", ""
    )


def error_response(request: Request, status: int, code: str, message: str) -> Response:
    """The one error body (JSON), or an error page / sign-in redirect for browsers."""
    if _wants_html(request):
        if status == 401:
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        with use_language(request_language(request)):
            return templates.TemplateResponse(
                request,
                "error.html",
                {"status": status, "code": code, "message": message, "user": None},
                status_code=status,
            )
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(
        {"error": {"status": status, "code": code, "message": message}},
        status_code=status,
        headers=headers,
    )


def api_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    """Every API and page route, including those of included routers."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from api_routes(inner.routes)


def create_app(
    site: SiteConfig,
    settings: WebSettings,
    store: Store | None = None,
    models: ModelSet | None = None,
) -> FastAPI:
    """The web app over ``site``'s store. ``store``/``models`` may be passed in (tests)."""
    owned_store = store is None
    the_store = store or Store.for_site(site)

    def run_job(job: TraceJobRecord, progress: ProgressFn) -> None:
        run_trace_job(state, job, progress)

    state = AppState(
        site=site,
        settings=settings,
        store=the_store,
        models=models or ModelSet(site.models),
        jobs=TraceJobs(the_store, run_job, settings.trace_workers),
    )
    state.jobs.start()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Before the first request: uvicorn accepts connections once this has run.
        await run_in_threadpool(warm_up, state)
        yield
        state.jobs.shutdown()
        if owned_store:
            the_store.close()

    app = FastAPI(
        title="cctrace",
        summary="Contact tracing over CCTV footage: cases, traces, review, exports, audit.",
        version="0.2.0",
        dependencies=[Depends(authorize)],
        lifespan=lifespan,
        docs_url=None,  # served below: signed-in only, assets from this server
        openapi_url=None,
        redoc_url=None,
    )
    app.state.cctrace = state

    @app.exception_handler(AuthError)
    async def _auth_error(request: Request, exc: AuthError) -> Response:
        return error_response(request, exc.status, exc.code, exc.message)

    @app.exception_handler(CctraceError)
    async def _cctrace_error(request: Request, exc: CctraceError) -> Response:
        status, code = _status_for(exc)
        message = str(exc)
        if status >= 500:
            # Details (database URLs, driver errors) go to the log, not to the client.
            ref = uuid.uuid4().hex[:8]
            log.error("%s %s failed [%s]: %s", request.method, request.url.path, ref, exc)
            message = gettext("{message} (log ref {ref})").format(
                message=gettext(SERVER_ERROR_MESSAGES.get(code, N_("internal error"))), ref=ref
            )
        return error_response(request, status, code, message)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        parts = []
        for err in exc.errors():
            where = ".".join(str(x) for x in err.get("loc", ()) if x != "body")
            parts.append(f"{where}: {err.get('msg')}")
        return error_response(
            request, 422, "invalid", "; ".join(parts) or gettext("invalid request")
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
            exc.status_code, "error"
        )
        detail = str(exc.detail)
        return error_response(
            request, exc.status_code, code, gettext(HTTP_DETAILS.get(detail, detail))
        )

    upload_limit = settings.max_photos * settings.max_upload_bytes + 1024 * 1024

    def body_limit(path: str) -> int:
        return upload_limit if TRACE_UPLOAD_PATH.match(path) else JSON_BODY_LIMIT

    # Added first, so it sits inside the header middleware and right around the routes.
    app.add_middleware(BodyLimitMiddleware, limit_for=body_limit)

    @app.middleware("http")
    async def _security_headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        # The language of this request's pages (and of the reports it writes).
        set_language(request_language(request))
        length = request.headers.get("content-length", "0")
        limit = body_limit(request.url.path)
        if not length.isdigit() or int(length) > limit:
            return error_response(request, 413, "too_large", too_large_message(limit))
        if request.method in UNSAFE_METHODS and request.url.path not in PUBLIC_POSTS:
            # Refuse changes from strangers before their body is read.
            token, _ = session_token(request)
            live = await run_in_threadpool(state.store.web_sessions.get, token) if token else None
            if live is None:
                return error_response(
                    request,
                    401,
                    "sign_in_required",
                    gettext("sign in first (no session, or it expired)"),
                )
        try:
            response: Response = await call_next(request)
        except Exception as exc:  # the catch-all: no traceback, no detail leaves the server
            ref = uuid.uuid4().hex[:8]
            log.exception("%s %s failed [%s]: %s", request.method, request.url.path, ref, exc)
            message = gettext("{message} (log ref {ref})").format(
                message=gettext("internal error"), ref=ref
            )
            response = error_response(request, 500, "internal", message)
        response.headers.setdefault(
            "Content-Security-Policy",
            DOCS_CSP if request.url.path == "/docs" else CONTENT_SECURITY_POLICY,
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if response.headers.get("content-type", "").startswith("text/html"):
            response.headers.setdefault("Content-Language", request_language(request))
        if request.url.path.startswith("/api"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    for router in (
        auth.router,
        cases.router,
        media.router,
        audit.router,
        admin.router,
        siteplan.router,
    ):
        app.include_router(router)
    app.include_router(contacts.router)  # contact statuses, open work, call list
    app.include_router(pages.router)
    app.include_router(docs.router)
    app.mount("/static/swagger", StaticFiles(directory=swagger_ui_path), name="swagger")
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    undeclared = [r.path for r in api_routes(app.routes) if route_permission(r.endpoint) is None]
    if undeclared:  # they would answer 403 to everyone; a programming error, say so early
        raise ConfigError(f"routes without a declared permission: {undeclared}")
    return app
