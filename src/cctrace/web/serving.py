"""Running the web app: one process, or N uvicorn worker processes on one store.

``cctrace serve --workers N`` binds the listening socket once in the parent process,
checks the store can be shared (and migrates it, once), then starts N uvicorn worker
processes that each build the app with :func:`worker_app` from the same site file and
the same settings (passed in the environment, so every worker signs with one key).
What the workers share lives in the store: sessions and their CSRF tokens
(``web_sessions``), trace jobs (``trace_jobs``) and the sign-in limiter
(``signin_attempts``). The sign-in form's CSRF cookie is signed with the shared key.
The retention purge runs once, in the parent.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from cctrace.errors import ConfigError, StoreError

from .settings import WebSettings

if TYPE_CHECKING:
    from fastapi import FastAPI

    from cctrace.config import SiteConfig

WORKER_SITE_ENV = "CCTRACE_WORKER_SITE"
"""The site file every worker process loads (set by ``cctrace serve --workers``)."""
WORKER_SETTINGS_ENV = "CCTRACE_WORKER_SETTINGS"
"""The parent's :class:`WebSettings` as JSON (same key and limits in every worker)."""
MAX_WORKERS = 64
WORKER_HEALTHCHECK_S = 30
"""The supervisor replaces a worker that does not answer its ping for this long (uvicorn's
default, 5 s, can kill a worker that is merely slow on a loaded machine, mid-trace)."""


def settings_to_env(settings: WebSettings) -> str:
    """``settings`` as the JSON :func:`settings_from_env` reads."""
    return settings.model_dump_json()


def settings_from_env() -> WebSettings:
    """The settings the parent process passed in ``$CCTRACE_WORKER_SETTINGS``."""
    raw = os.environ.get(WORKER_SETTINGS_ENV)
    if not raw:
        raise ConfigError(f"${WORKER_SETTINGS_ENV} is not set (start workers with cctrace serve)")
    # model_validate_json reads no environment: every worker gets the parent's values.
    return WebSettings.model_validate_json(raw)


def worker_app() -> FastAPI:
    """The app of one uvicorn worker process (a uvicorn app factory)."""
    from cctrace.config import load_site

    from .app import create_app

    site_file = os.environ.get(WORKER_SITE_ENV)
    if not site_file:
        raise ConfigError(f"${WORKER_SITE_ENV} is not set (start workers with cctrace serve)")
    return create_app(load_site(Path(site_file), check_files=False), settings_from_env())


def check_shared_store(site: SiteConfig, workers: int) -> str | None:
    """Open (and migrate) the site's store once and check that ``workers`` processes can
    share it. PostgreSQL: any number. SQLite: only in WAL mode on this host's local disk
    (the database's lock and WAL index need one kernel); returns a note saying so. A
    ``ConfigError`` says why not otherwise."""
    from cctrace.store.repository import Store

    if not 1 <= workers <= MAX_WORKERS:
        raise ConfigError(f"--workers: expected 1..{MAX_WORKERS}, got {workers}")
    try:
        store = Store.for_site(site)
    except StoreError as exc:
        raise ConfigError(f"cannot open the store for the web workers: {exc}") from exc
    with store:
        try:
            store.audit.check_data_key()  # a worker with another key would break the audit chain
        except StoreError as exc:
            raise ConfigError(str(exc)) from exc
        if workers == 1 or store.dialect == "postgresql":
            return None
        if store.dialect != "sqlite":
            raise ConfigError(
                f"--workers {workers} needs PostgreSQL or SQLite, not {store.dialect} "
                f"({store.safe_url})"
            )
        with store.engine.connect() as conn:
            mode = str(conn.exec_driver_sql("PRAGMA journal_mode").scalar() or "").lower()
            path = conn.exec_driver_sql("PRAGMA database_list").fetchall()[0][2]
        if not path or mode != "wal":
            raise ConfigError(
                f"--workers {workers} on SQLite needs a database file in WAL mode, and "
                f"{store.safe_url} is in {mode or 'no'} journal mode (a network or memory "
                "file system?): set storage.database_url to a PostgreSQL server "
                "(postgresql+psycopg://...) or run one worker"
            )
        return (
            f"{workers} workers share the SQLite database {path} (WAL): fine on this host "
            "with the file on a local disk, but writes take turns; for several hosts or "
            "heavy use set storage.database_url to PostgreSQL"
        )


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (port 0: a free one) for uvicorn to serve on;
    ``ConfigError`` when the address cannot be used."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host} port {port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def address_of(sock: socket.socket) -> str:
    """``http://HOST:PORT/`` of a bound socket (the real port when 0 was asked for)."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def run_server(
    sock: socket.socket, settings: WebSettings, *, app: FastAPI | None, workers: int
) -> None:
    """Serve on ``sock``: ``app`` in this process (``workers`` 1), or ``workers`` uvicorn
    worker processes that each build :func:`worker_app` (the environment must hold
    ``$CCTRACE_WORKER_SITE`` and ``$CCTRACE_WORKER_SETTINGS``)."""
    import uvicorn

    options = {"log_level": "warning", "access_log": False, **settings.uvicorn_options()}
    if workers == 1:
        if app is None:
            raise ValueError("one worker serves an app built here")
        server = uvicorn.Server(uvicorn.Config(app, **options))  # type: ignore[arg-type]
        server.run(sockets=[sock])
        if not server.started:
            raise SystemExit(3)  # uvicorn logged why (as uvicorn.run does)
        return
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(
        "cctrace.web.serving:worker_app",
        factory=True,
        workers=workers,
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_S,
        **options,  # type: ignore[arg-type]
    )
    Multiprocess(config, sockets=[sock]).run()  # stops all workers on SIGINT/SIGTERM
