"""The site plan in a real browser (headless Debian Chromium, Playwright): an admin
uploads a plan and places it with the keyboard; the case page then draws the route on
it, at a laptop and a phone width, in English and Korean, without horizontal scrolling.

Needs ``/usr/bin/chromium`` (``scripts/setup.sh --dev``); skips otherwise. Never
downloads a browser. ``$CCTRACE_SCREENSHOT_DIR``: also keep the screenshots there.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.e2e.browser_support import CHROMIUM, CHROMIUM_ARGS
from tests.web.plan_support import FLOOR, floor_plan
from tests.web.web_support import PASSWORD, WebEnv, open_and_trace

pytestmark = pytest.mark.slow

# pixel -> metres: x = -10 + 0.05 u, y = 10 - 0.05 v (the seeded people walk near (1.7, -2.3))
POINTS = [("100", "100", "-5", "5"), ("400", "100", "10", "5"), ("100", "300", "-5", "-5")]
SIZES = [(1366, 768), (390, 844)]
WIDEST = """sel => Math.max(...[document.querySelector(sel),
    ...document.querySelectorAll(sel + ' *')].map(e => e.getBoundingClientRect().right))"""
OVERFLOWING = """() => [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1).slice(0, 8)
    .map(e => e.tagName + '.' + e.className + '#' + e.id)"""


@pytest.fixture
def served(web: WebEnv) -> Iterator[str]:
    """The test app served by uvicorn on a free local port."""
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} not found: install Debian's 'chromium' (scripts/setup.sh --dev)")
    pytest.importorskip("playwright.sync_api", reason="playwright (a dev dependency) is missing")
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(web.app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=30)
    sock.close()


def _sign_in(page: Any, user: str, lang: str) -> None:
    """Type into the sign-in form and submit it with Enter (keyboard only)."""
    page.goto(f"/language/{lang}?next=/login")
    fields = page.locator("form input:not([type=hidden])")
    fields.nth(0).fill(user)
    fields.nth(1).fill(PASSWORD)
    with page.expect_navigation():
        fields.nth(1).press("Enter")


def _overflow(page: Any) -> tuple[int, int]:
    return page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")


def _keep(path: Path) -> None:
    keep = os.environ.get("CCTRACE_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / path.name)


def test_admin_places_a_plan_and_the_route_is_drawn_on_it(
    served: str, web: WebEnv, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    plan_file = tmp_path / "clinic-floor.png"
    floor_plan().save(plan_file)
    open_and_trace(web.client_for("ivy"), "C-1", web.tracklet_ids[0])
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        admin = browser.new_context(base_url=served, viewport={"width": 1366, "height": 768})
        page = admin.new_page()
        page.set_default_timeout(20_000)
        _sign_in(page, "adm", "en")
        page.goto("/admin")
        # keyboard: the file field is a labelled control; Tab reaches the upload button
        page.get_by_label("Plan picture (PNG, JPEG or SVG, up to 20 MB)").set_input_files(
            str(plan_file)
        )
        page.get_by_label("Plan picture (PNG, JPEG or SVG, up to 20 MB)").focus()
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == "Upload plan"
        with page.expect_navigation():
            page.keyboard.press("Enter")
        page.locator("#plan-preview").wait_for()
        assert page.locator("#plan-preview").evaluate("i => i.naturalWidth") == 500
        # a click on the picture fills in the pixel of the point being edited
        page.locator("#p3_u").focus()
        page.locator("#plan-preview").scroll_into_view_if_needed()
        box = page.locator("#plan-preview").bounding_box()
        page.mouse.click(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.75)
        assert abs(float(page.locator("#p3_u").input_value()) - 100) <= 2
        assert abs(float(page.locator("#p3_v").input_value()) - 300) <= 2
        # then every number typed, Tab from field to field, Enter to place
        page.locator("#p1_u").focus()
        for row in POINTS:
            for value in row:
                page.keyboard.press("Control+A")
                page.keyboard.type(value)
                page.keyboard.press("Tab")
        with page.expect_navigation():
            page.locator("#p3_b").press("Enter")
        check = page.locator("#plan-check")
        assert "within 0.00 m" in check.inner_text(), check.inner_text()
        assert page.locator("#plan-in-force").inner_text() == "the uploaded plan"
        pin = page.locator(".plan-pin").nth(1).bounding_box()  # point 2: pixel (400, 100)
        img = page.locator("#plan-preview").bounding_box()
        assert pin and img
        assert abs(pin["x"] + pin["width"] / 2 - (img["x"] + img["width"] * 0.8)) < 3
        assert abs(pin["y"] + pin["height"] / 2 - (img["y"] + img["height"] * 0.25)) < 3
        if os.environ.get("CCTRACE_SCREENSHOT_DIR"):
            section = tmp_path / "admin-site-plan-en-1366.png"
            page.locator("section.site-plan").screenshot(path=str(section))
            _keep(section)
        for lang in ("en", "ko"):
            page.goto(f"/language/{lang}?next=/admin")
            for width, height in SIZES:
                page.set_viewport_size({"width": width, "height": height})
                right = page.evaluate(WIDEST, "section.site-plan")
                assert right <= width, f"admin {lang} {width}: the plan section ends at {right}"
                scroll, inner = _overflow(page)
                assert scroll <= inner, f"admin {lang} {width}: {page.evaluate(OVERFLOWING)}"
        admin.close()

        ivy = browser.new_context(base_url=served, viewport={"width": 1366, "height": 768})
        page = ivy.new_page()
        page.set_default_timeout(20_000)
        _sign_in(page, "ivy", "en")
        for lang in ("en", "ko"):
            page.goto(f"/language/{lang}?next=/cases/C-1")
            for width, height in SIZES:
                page.set_viewport_size({"width": width, "height": height})
                page.reload()
                figure = page.locator("figure.plan")
                figure.scroll_into_view_if_needed()
                image = figure.locator("image.plan-image")
                assert image.count() == 1
                svg_box = figure.locator("svg").bounding_box()
                stop = figure.locator("circle.stop").first.bounding_box()
                assert svg_box and stop
                assert svg_box["x"] <= stop["x"] and stop["x"] + stop["width"] <= (
                    svg_box["x"] + svg_box["width"]
                )
                shot = tmp_path / f"case-site-plan-{lang}-{width}.png"
                figure.screenshot(path=str(shot))
                _keep(shot)
                if os.environ.get("CCTRACE_SCREENSHOT_DIR"):
                    whole = tmp_path / f"case-page-{lang}-{width}.png"
                    page.screenshot(path=str(whole), full_page=True)
                    _keep(whole)
                pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
                faded = np.array([round(c * 0.8 + 255 * 0.2) for c in FLOOR])
                floor = np.all(np.abs(pixels - faded) <= 10, axis=2).mean()
                assert floor > 0.1, f"the plan's floor colour covers {floor:.0%} of the map"
                scroll, inner = _overflow(page)
                wide = page.evaluate(OVERFLOWING)
                assert scroll <= inner, f"case {lang} {width}: {scroll} > {inner} {wide}"
        ivy.close()
        browser.close()
