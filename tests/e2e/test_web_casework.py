"""Acting on a case in a real browser (issue 13, item 5): a tracer sets a contact's status
and note with the keyboard only, at a 1366x768 laptop and a 390x844 phone, in English
and Korean; no page scrolls sideways; the case list's open work follows; the call list
CSV downloads with the rows the page shows.

Headless Debian Chromium driven by Playwright, on a private copy of the demo site (real
PETS2009 footage) served by uvicorn. Needs ``/usr/bin/chromium`` and the shared reference
data (``$CCTRACE_DEMO_DIR`` may name an already built demo); skips with the reason
otherwise. The parameters run in order and build on each other's statuses.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.browser_support import Server

pytestmark = pytest.mark.slow

CASE = "DEMO-0001"
TIMEOUT_MS = 30_000
STATUSES = ["to_call", "called", "tested", "isolated", "not_reachable"]
RUNS = [
    # (language, width, height, status to set, note to type)
    ("en", 1366, 768, "called", "left a message at 10:05"),
    ("en", 390, 844, "tested", "test booked for Tuesday"),
    ("ko", 1366, 768, "isolated", "자가격리 중, 14일까지"),
    ("ko", 390, 844, "not_reachable", "두 번 전화했으나 받지 않음"),
]
HEADINGS = {"en": ("Case", "Contact", "Status", "Note"), "ko": ("사례", "접촉자", "상태", "메모")}
LABELS = {
    "en": {"called": "called", "tested": "tested", "isolated": "isolated",
           "not_reachable": "not reachable"},
    "ko": {"called": "통화함", "tested": "검사함", "isolated": "격리 중",
           "not_reachable": "연락 안 됨"},
}  # fmt: skip


def _page(browser: Any, server: Server, lang: str, width: int, height: int, js: bool = True) -> Any:
    """A new context at this size (``js``: JavaScript on), signed in as the investigator
    with the keyboard, in ``lang``."""
    context = browser.new_context(
        base_url=server.url,
        viewport={"width": width, "height": height},
        accept_downloads=True,
        java_script_enabled=js,
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto("/login?next=/cases")
    page.locator("#username").fill("investigator")
    page.locator("#password").fill(server.passwords["investigator"])
    with page.expect_navigation():
        page.locator("#password").press("Enter")
    page.goto(f"/language/{lang}?next=/cases")
    assert page.locator("html").get_attribute("lang") == lang
    return page


def _no_sideways_scroll(page: Any, where: str) -> None:
    scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll <= inner, f"{where}: the page scrolls sideways ({scroll} > {inner} px)"


def _tab_to(page: Any, element_id: str, limit: int = 400) -> None:
    """Press Tab from the top of the page until ``element_id`` has the focus."""
    page.locator("body").focus()
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
    pytest.fail(f"Tab never reached #{element_id}")


def _close_contact_key(page: Any) -> int:
    """The key (smallest tracklet id) of the demo case's first close contact."""
    body = page.locator("tbody.contact", has=page.locator(".pill.close")).first
    return int((body.get_attribute("id") or "").removeprefix("contact-"))


def _to_call_cell(page: Any) -> str:
    page.goto("/cases")
    row = page.locator("table.data tbody tr", has=page.get_by_role("link", name=CASE, exact=True))
    return str(row.locator("td.to-call").inner_text()).strip()


@pytest.mark.parametrize(("lang", "width", "height", "status", "note"), RUNS)
def test_set_a_contact_status_with_the_keyboard(
    browser: Any, server: Server, lang: str, width: int, height: int, status: str, note: str
) -> None:
    page = _page(browser, server, lang, width, height)
    for path in ("/cases", "/contacts", f"/cases/{CASE}"):
        page.goto(path)
        _no_sideways_scroll(page, f"{path} ({lang}, {width}x{height})")
    key = _close_contact_key(page)
    select = page.locator(f"#cs-{key}")
    before = select.input_value()

    _tab_to(page, f"cs-{key}")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none"), "keyboard focus should be visible"
    steps = STATUSES.index(status) - STATUSES.index(before)
    for _ in range(abs(steps)):
        page.keyboard.press("ArrowDown" if steps > 0 else "ArrowUp")
    assert select.input_value() == status
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == f"cn-{key}"
    page.keyboard.press("Control+A")
    page.keyboard.type(note)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.type") == "submit"
    with page.expect_navigation():
        page.keyboard.press("Enter")

    assert re.search(rf"/cases/{CASE}\?saved={key}#contact-{key}$", page.url), page.url
    contact = page.locator(f"#contact-{key}")
    assert contact.locator(f".pill[data-status={status}]").inner_text() == LABELS[lang][status]
    assert note in contact.locator(".work-note").inner_text()
    saved = contact.get_by_role("status")
    assert saved.is_visible() and LABELS[lang][status] in saved.inner_text()
    _no_sideways_scroll(page, f"the saved case page ({lang}, {width}x{height})")
    store = server.app.state.cctrace.store
    entry = [a for a in store.audit.entries(CASE) if a.action == "contact_status"][-1]
    assert entry.actor == "investigator" and entry.query["to"] == status
    assert entry.query["from"] == before and key in entry.query["tracklet_ids"]

    # the case list's open work: the demo's one close contact is no longer to call
    assert _to_call_cell(page) == "0"
    _no_sideways_scroll(page, f"/cases after the change ({lang}, {width}x{height})")

    # the call list, downloaded from the case page, has the page's contacts and status
    page.goto(f"/cases/{CASE}")
    names = [n.inner_text() for n in page.locator("tbody.contact tr:first-child td strong").all()]
    with page.expect_download() as download:
        page.locator("a.download").click()
    assert download.value.suggested_filename == f"{CASE}-call-list.csv"
    data = Path(download.value.path()).read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    header, *rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    case_h, contact_h, status_h, note_h = HEADINGS[lang]
    assert header[:2] == [case_h, contact_h]
    assert [r[header.index(contact_h)] for r in rows] == names
    assert {r[header.index(case_h)] for r in rows} == {CASE}
    mine = [r for r in rows if str(key) in r[-1].split(";")]
    assert len(mine) == 1 and mine[0][header.index(status_h)] == LABELS[lang][status]
    assert mine[0][header.index(note_h)] == note
    first_seen = mine[0][3]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (UTC|[+-]\d\d:\d\d)", first_seen)
    exports = [a for a in store.audit.entries(CASE) if a.action == "export_call_list"]
    assert exports and exports[-1].actor == "investigator"
    page.context.close()


def test_back_to_call_without_javascript_shows_as_open_work(browser: Any, server: Server) -> None:
    """With JavaScript off, the form still sets the status; back to "to call", the contact
    is on the open contacts page and in the case list's count again."""
    page = _page(browser, server, "en", 390, 844, js=False)
    page.goto(f"/cases/{CASE}")
    key = _close_contact_key(page)
    page.locator(f"#cs-{key}").select_option("to_call")
    with page.expect_navigation():
        page.locator(f"#contact-{key} form button[type=submit]").click()
    assert _to_call_cell(page) == "1"
    page.get_by_role("link", name=re.compile("open contact to call")).click()
    page.wait_for_url("**/contacts")
    link = page.locator(f"a[href='/cases/{CASE}#contact-{key}']")
    assert link.is_visible()
    _no_sideways_scroll(page, "/contacts at 390x844")
    page.context.close()
