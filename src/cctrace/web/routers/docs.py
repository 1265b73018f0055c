"""The OpenAPI schema and Swagger UI, for signed-in users, with no outside assets; and
the Korean web font the pages fall back to."""

from __future__ import annotations

import functools
import io

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response

from cctrace.errors import NotFoundError

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


HANGUL_FONTS = {"NanumGothic.ttf": 0, "NanumGothicBold.ttf": 1}
"""Korean web fonts the pages fall back to (app.css ``@font-face``, Hangul only)."""


@router.get("/fonts/{name}")
@needs(Permission.PUBLIC)
def hangul_font(name: str) -> Response:
    """NanumGothic (SIL OFL 1.1, the PDF reports' Korean font, installed by setup) for
    devices with no Korean font of their own; 404 when it is not installed."""
    if name not in HANGUL_FONTS:
        raise NotFoundError(f"no font {name!r} here")
    return Response(
        _web_font(HANGUL_FONTS[name]),
        media_type="font/ttf",
        headers={"Cache-Control": "public, max-age=604800"},
    )


@functools.cache
def _web_font(index: int) -> bytes:
    """The installed font without its VTT hinting sources (``TSI*`` tables: browsers'
    font sanitiser refuses the empty one NanumGothic ships)."""
    from fontTools.ttLib import TTFont

    from cctrace.report.fonts import find_korean_fonts

    fonts = find_korean_fonts()
    if fonts is None:
        raise NotFoundError("the Korean font is not installed (scripts/setup.sh fetches it)")
    font = TTFont(str(fonts[index]))
    for tag in [t for t in font.keys() if t.startswith("TSI")]:  # noqa: SIM118
        del font[tag]
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()
