"""Browser fixtures: the demo site served once per module, and headless Chromium."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.browser_support import Server, launch_browser, serve_demo


@pytest.fixture(scope="module")
def server(
    copy_demo: Callable[[Path], Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """The demo site built once, its demo accounts, and the app served by uvicorn."""
    yield from serve_demo(copy_demo, tmp_path_factory)


@pytest.fixture(scope="module")
def browser(server: Server) -> Iterator[Any]:
    """Headless Debian Chromium (no downloaded browser)."""
    yield from launch_browser(server)
