"""A real browser against the demo site: headless Debian Chromium driven by Playwright.

The demo site (real PETS2009 footage, built once per session: ``built_demo`` in
``tests/conftest.py``) is served by uvicorn on a free local port. Never downloads a
browser (no ``playwright install``).
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # tests may run as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 30_000


@dataclass
class Server:
    """The running demo app."""

    url: str
    workdir: Path
    passwords: dict[str, str]
    app: Any


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def serve_demo(
    copy_demo: Callable[[Path], Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """The demo site built once, its demo accounts, and the app served by uvicorn."""
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} not found: install Debian's 'chromium' (scripts/setup.sh --dev)")
    pytest.importorskip("playwright.sync_api", reason="playwright (a dev dependency) is missing")
    import uvicorn

    from cctrace.config import load_site
    from cctrace.web import WebSettings, create_app
    from cctrace.web.cli import ensure_demo_users

    workdir = tmp_path_factory.mktemp("webdemo")
    shutil.rmtree(workdir)
    copy_demo(workdir)
    site = load_site(workdir / "site.yaml", check_files=False)
    passwords = ensure_demo_users(site.storage.data_dir, workdir)
    app = create_app(site, WebSettings.for_demo())
    sock = free_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield Server(f"http://127.0.0.1:{port}", workdir, passwords, app)
    uv.should_exit = True
    thread.join(timeout=30)
    sock.close()


def launch_browser(server: Server) -> Iterator[Any]:
    """Headless Debian Chromium (no downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
"""The two screen sizes the pages are checked at (a tracer's laptop and phone)."""


def context_for(
    browser: Any, server: Server, viewport: dict[str, int] | None = None, locale: str = "en-GB"
) -> Any:
    """A fresh browser context (own cookies) at ``viewport`` whose ``Accept-Language``
    is ``locale``."""
    context = browser.new_context(
        base_url=server.url,
        viewport=viewport or DESKTOP,
        accept_downloads=True,
        locale=locale,
    )
    context.set_default_timeout(TIMEOUT_MS)
    return context


def sign_in(page: Any, username: str, password: str, path: str = "/") -> None:
    """Type into the sign-in form and submit it with Enter (keyboard only); the fields
    are found by id, so this works in every language."""
    page.goto(f"/login?next={path}")
    page.locator("#username").fill(username)
    page.locator("#password").fill(password)
    with page.expect_navigation():
        page.locator("#password").press("Enter")
