"""The tracers' web app and REST API (FastAPI): cases, traces, review, exports, audit.

``create_app(site, settings)`` builds the application; ``cctrace serve`` runs it.
Every route denies by default: it must name the permission it needs
(:mod:`cctrace.web.roles`), checked on the server for every request.
"""

from __future__ import annotations

from .app import create_app
from .settings import WebSettings

__all__ = ["WebSettings", "create_app"]
