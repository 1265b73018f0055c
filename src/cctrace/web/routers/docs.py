"""The OpenAPI schema and Swagger UI, for signed-in users, with no outside assets."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from ..deps import needs
from ..roles import Permission

router = APIRouter(include_in_schema=False)


@router.get("/openapi.json")
@needs(Permission.SIGNED_IN)
def openapi_schema(request: Request) -> JSONResponse:
    """The API's OpenAPI schema."""
    return JSONResponse(request.app.openapi())


@router.get("/docs", response_class=HTMLResponse)
@needs(Permission.SIGNED_IN)
def swagger_ui() -> HTMLResponse:
    """Swagger UI over :func:`openapi_schema`; its files are served by this app."""
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="cctrace API",
        swagger_js_url="/static/swagger/swagger-ui-bundle.js",
        swagger_css_url="/static/swagger/swagger-ui.css",
        swagger_favicon_url="/static/favicon.svg",
    )
