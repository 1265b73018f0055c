"""Which language a page is shown in: the user's choice (a cookie set by the language
switch on every page), else the browser's ``Accept-Language``, else English."""

from __future__ import annotations

from fastapi import Request

from cctrace.i18n import DEFAULT_LANGUAGE, negotiate, normalize

LANG_COOKIE = "cctrace_lang"
LANG_COOKIE_MAX_AGE = 365 * 24 * 3600


def request_language(request: Request) -> str:
    """The language of the pages this request gets."""
    chosen = normalize(request.cookies.get(LANG_COOKIE))
    return chosen or negotiate(request.headers.get("accept-language")) or DEFAULT_LANGUAGE


def local_path(target: str | None, default: str = "/") -> str:
    """``target`` when it is a path on this server (``/cases?x=1``), else ``default``: the
    language switch never redirects to another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    if any(ord(ch) < 32 for ch in target):
        return default
    return target
