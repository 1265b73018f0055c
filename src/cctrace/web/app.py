"""The FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute

from cctrace.config import SiteConfig
from cctrace.errors import (
    CctraceError,
    ConfigError,
    NotFoundError,
    PhotoError,
    QueryError,
    StoreError,
)
from cctrace.ingest.models import ModelSet
from cctrace.store.records import AlreadyExistsError, InvalidInputError
from cctrace.store.repository import Store

from .deps import AuthError, authorize, route_permission
from .jobs import TraceJobs
from .pages import templates
from .routers import admin, audit, auth, cases, media, pages
from .settings import WebSettings
from .state import AppState

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
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
    state = AppState(
        site=site,
        settings=settings,
        store=the_store,
        models=models or ModelSet(site.models),
        jobs=TraceJobs(settings.trace_workers),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
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
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.cctrace = state

    @app.exception_handler(AuthError)
    async def _auth_error(request: Request, exc: AuthError) -> Response:
        return error_response(request, exc.status, exc.code, exc.message)

    @app.exception_handler(CctraceError)
    async def _cctrace_error(request: Request, exc: CctraceError) -> Response:
        status, code = _status_for(exc)
        if status >= 500:
            log.error("%s %s failed: %s", request.method, request.url.path, exc)
        return error_response(request, status, code, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        parts = []
        for err in exc.errors():
            where = ".".join(str(x) for x in err.get("loc", ()) if x != "body")
            parts.append(f"{where}: {err.get('msg')}")
        return error_response(request, 422, "invalid", "; ".join(parts) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
            exc.status_code, "error"
        )
        return error_response(request, exc.status_code, code, str(exc.detail))

    body_limit = settings.max_photos * settings.max_upload_bytes + 1024 * 1024

    @app.middleware("http")
    async def _security_headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        length = request.headers.get("content-length", "0")
        if not length.isdigit() or int(length) > body_limit:
            return error_response(
                request,
                413,
                "too_large",
                f"request body over {body_limit // (1024 * 1024)} MB "
                f"({settings.max_photos} photos of at most {settings.max_upload_mb:g} MB)",
            )
        response: Response = await call_next(request)
        if request.url.path not in ("/docs", "/openapi.json"):
            response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if request.url.path.startswith("/api"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    for router in (auth.router, cases.router, media.router, audit.router, admin.router):
        app.include_router(router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    undeclared = [r.path for r in api_routes(app.routes) if route_permission(r.endpoint) is None]
    if undeclared:  # they would answer 403 to everyone; a programming error, say so early
        raise ConfigError(f"routes without a declared permission: {undeclared}")
    return app
