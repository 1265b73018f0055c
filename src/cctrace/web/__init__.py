"""The tracers' web app and REST API (FastAPI): cases, traces, review, exports, audit.

``create_app(site, settings)`` builds the application; ``cctrace serve`` runs it.
Every route denies by default: it must name the permission it needs
(:mod:`cctrace.web.roles`), checked on the server for every request.

``create_app`` and ``WebSettings`` are imported on first use: the app pulls in FastAPI,
SQLAlchemy and the report code (about 3 s of imports on a loaded 2-core machine), which
every other ``cctrace`` command, and every ingest worker process, would otherwise pay
when the CLI registers ``cctrace serve``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import create_app
    from .settings import WebSettings

__all__ = ["WebSettings", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "WebSettings":
        from .settings import WebSettings

        return WebSettings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
