"""The web app in a real browser: headless Debian Chromium driven by Playwright.

One demo site (real PETS2009 footage, built once for the module) is served by uvicorn
on a free local port; investigator, supervisor and auditor each get their own browser
context (own cookies). The tests run in file order and build on each other's state:
the investigator's trace, then the export request the supervisor approves.

Needs ``/usr/bin/chromium`` (``bash scripts/setup.sh --dev`` installs Debian's package)
and the shared reference data; skips with the reason otherwise. Never downloads a
browser (no ``playwright install``). The demo is the session's build (``built_demo`` in
``tests/conftest.py``; ``$CCTRACE_DEMO_DIR`` may name an already built one).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.browser_support import Server, context_for, sign_in

pytestmark = pytest.mark.slow

CASE = "DEMO-0001"
TRACE_TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def investigator(browser: Any, server: Server) -> Iterator[Any]:
    """The investigator's page, signed in through the form."""
    yield from _signed_in(browser, server, "investigator")


@pytest.fixture(scope="module")
def supervisor(browser: Any, server: Server) -> Iterator[Any]:
    """The supervisor's page, in its own context (own cookies)."""
    yield from _signed_in(browser, server, "supervisor")


def _signed_in(browser: Any, server: Server, user: str) -> Iterator[Any]:
    """A page signed in through the form as ``user``, in its own context (own cookies)."""
    context = context_for(browser, server)
    page = context.new_page()
    sign_in(page, user, server.passwords[user])
    yield page
    context.close()


def _open_case(page: Any) -> None:
    page.goto(f"/cases/{CASE}")
    page.wait_for_load_state("load")


def _no_horizontal_overflow(page: Any) -> tuple[int, int]:
    return page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")


def test_wrong_password_shows_an_error(browser: Any, server: Server) -> None:
    context = context_for(browser, server)
    page = context.new_page()
    page.goto("/login")
    page.get_by_label("User name").fill("investigator")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "wrong user name or password" in alert.inner_text()
    assert "/login" in page.url
    context.close()


def test_sign_in_lands_on_cases(investigator: Any) -> None:
    assert investigator.url.endswith("/cases")
    assert "investigator · investigator" in investigator.locator("header .who").inner_text()
    investigator.get_by_role("link", name=CASE).click()
    investigator.wait_for_url(f"**/cases/{CASE}")


def test_case_page_shows_timeline_route_and_contacts(investigator: Any) -> None:
    page = investigator
    _open_case(page)
    assert page.get_by_role("heading", name=re.compile(f"Case {CASE}")).is_visible()
    timeline = page.locator("section[aria-labelledby=timeline-h] table.data tbody tr")
    assert timeline.count() >= 1, "the demo trace should have sightings"
    svg = page.locator("section[aria-labelledby=route-h] svg")
    assert svg.is_visible()
    box = svg.bounding_box()
    assert box and box["width"] > 200 and box["height"] > 100
    contacts = page.locator("section[aria-labelledby=contacts-h] table.data tbody tr")
    assert contacts.count() >= 1, "the demo trace should find contacts"
    # Snapshots load (redacted images served by the app, not broken).
    first = page.locator("section[aria-labelledby=timeline-h] img.thumb").first
    first.scroll_into_view_if_needed()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=first.element_handle()
    )


def test_keyboard_reaches_run_trace_and_runs_it(investigator: Any) -> None:
    """Tab from the top of the page reaches Run trace; Enter starts the trace, the progress
    bar shows, and the page reloads with the new result."""
    page = investigator
    _open_case(page)
    tracklet = page.locator("#tracklet_id")
    assert tracklet.input_value(), "the demo's trace parameters should be pre-filled"
    invalid = page.evaluate(
        "[...document.querySelectorAll('#trace-form input')].filter(i => !i.checkValidity())"
        ".map(i => i.id + ': ' + i.validationMessage)"
    )
    assert not invalid, f"the browser would refuse the trace form: {invalid}"
    before = page.locator(".stat.small .n").inner_text()
    page.locator("body").focus()
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "Run trace":
            break
    else:
        pytest.fail("Tab never reached the Run trace button")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none"), "keyboard focus should be visible"
    time.sleep(1.1)  # the result's timestamp has one-second resolution
    with page.expect_response(re.compile(r"/api/cases/.+/traces$")) as started:
        page.keyboard.press("Enter")
    assert started.value.status == 202, started.value.text()
    page.locator("#job-progress").wait_for(state="visible")
    # A function, not an expression: the page's CSP (no unsafe-eval) applies to the test too.
    page.wait_for_function(
        "(before) => { const n = document.querySelector('.stat.small .n');"
        " return n !== null && n.textContent !== before; }",
        arg=before,
        timeout=TRACE_TIMEOUT_MS,
    )
    assert page.locator("#job").is_hidden()
    assert "last traced by investigator" in page.locator(".stat.small").inner_text()


def _confirm_label(tracklet: int) -> str:
    """CSS attribute selector of a review band's Confirm button for ``tracklet``."""
    return f"[aria-label^='Confirm Sighting '][aria-label$=' (tracklet {tracklet})']"


def _review_count(page: Any) -> int:
    text = page.get_by_role("heading", name=re.compile(r"Needs review")).inner_text()
    return int(re.search(r"\((\d+)\)", text).group(1))  # type: ignore[union-attr]


def test_review_band_confirm(investigator: Any, server: Server) -> None:
    """Confirm a sighting from the Needs review band. When the demo trace has nothing to
    review, one route sighting is put back to review through the API first (the UI has
    no button for that), and the band's Confirm button settles it again."""
    page = investigator
    _open_case(page)
    if _review_count(page) == 0:
        accepted = page.locator("section[aria-labelledby=timeline-h] tr.st-accepted")
        tracklet = int(accepted.first.get_attribute("data-tracklet") or "")
        status = page.evaluate(
            """async ([caseId, tracklet]) => {
                 const csrf = document.querySelector('meta[name="csrf-token"]').content;
                 const r = await fetch(`/api/cases/${caseId}/sightings/${tracklet}`, {
                   method: "POST", headers: {"Content-Type": "application/json",
                   "X-CSRF-Token": csrf}, body: JSON.stringify({decision: "review"})});
                 const job = await r.json();
                 for (;;) {
                   const j = await (await fetch(`/api/jobs/${job.job_id}`)).json();
                   if (j.status === "done" || j.status === "failed") return j.status;
                   await new Promise(res => setTimeout(res, 300));
                 }
               }""",
            [CASE, tracklet],
        )
        assert status == "done"
        _open_case(page)
    assert _review_count(page) >= 1, "a sighting set back to review should show in the band"
    confirm = page.locator("ul.review button", has_text="Confirm").first
    label = confirm.get_attribute("aria-label") or ""
    # "Confirm Sighting 2 · Plaza west, 12:34:40 (tracklet 22)"
    tracklet = int(re.search(r"\(tracklet (\d+)\)$", label).group(1))  # type: ignore[union-attr]
    with page.expect_navigation(timeout=TRACE_TIMEOUT_MS):
        confirm.click()
    row = page.locator(f"section[aria-labelledby=timeline-h] tbody tr[data-tracklet='{tracklet}']")
    assert "accepted" in row.first.inner_text()
    # The confirmed sighting left the band; the re-trace it started may suggest new ones
    # (a confirmed sighting is searched onwards), so the count alone proves nothing.
    assert page.locator(f"ul.review button{_confirm_label(tracklet)}").count() == 0


def test_confirm_a_body_link_from_another_camera(investigator: Any) -> None:
    """Issue 10: a sighting suggested in the other camera by clothing and walking time
    shows its evidence side by side (the case's snapshot, the candidate's, the gap and
    the similarity), and Confirm puts it on the route."""
    page = investigator
    _open_case(page)
    linked = page.locator("ul.review li.review-item", has=page.locator("p.link-evidence"))
    assert linked.count() >= 1, "the demo trace should suggest someone by clothing and time"
    item = linked.first
    assert item.locator(".pair img").count() == 2
    assert (item.locator("img").first.get_attribute("alt") or "").startswith("The case at")
    evidence = item.locator("p.link-evidence").inner_text()
    assert "No face: suggested by clothing and walking time" in evidence
    assert re.search(r"(after the case left|before the case appeared)", evidence)
    assert "clothing similarity" in item.inner_text()
    confirm = item.locator("button", has_text="Confirm")
    label = confirm.get_attribute("aria-label") or ""
    # "Confirm Sighting 2 · Plaza west, 12:34:40 (tracklet 22)"
    tracklet = int(re.search(r"\(tracklet (\d+)\)$", label).group(1))  # type: ignore[union-attr]
    with page.expect_navigation(timeout=TRACE_TIMEOUT_MS):
        confirm.click()
    row = page.locator(f"section[aria-labelledby=timeline-h] tbody tr[data-tracklet='{tracklet}']")
    assert "accepted" in row.first.inner_text()
    pending = page.locator(f"ul.review button{_confirm_label(tracklet)}")
    assert pending.count() == 0


def test_export_request_approve_and_download_pdf(investigator: Any, supervisor: Any) -> None:
    page = investigator
    _open_case(page)
    page.get_by_label("Reason for the export").fill("hand-over to the health office (test)")
    with page.expect_navigation():
        page.get_by_role("button", name="Request export").click()
    exports = page.locator("section[aria-labelledby=export-h] tbody tr")
    assert "pending" in exports.last.inner_text()

    supervisor.goto("/approvals")
    row = supervisor.locator("tr", has_text="hand-over to the health office (test)")
    with supervisor.expect_navigation():
        row.get_by_role("button", name="Approve").click()
    assert "No pending requests" in supervisor.locator("main").inner_text()
    assert "approved by supervisor" in supervisor.locator("main").inner_text()

    _open_case(page)
    exports = page.locator("section[aria-labelledby=export-h] tbody tr")
    assert "approved" in exports.last.inner_text()
    link = exports.last.get_by_role("link", name="report.pdf")
    with page.expect_download(timeout=TRACE_TIMEOUT_MS) as download:
        link.click()
    path = download.value.path()
    assert path is not None
    assert Path(path).read_bytes()[:5] == b"%PDF-"
    assert download.value.suggested_filename == f"{CASE}-report.pdf"


@pytest.fixture(scope="module")
def auditor(browser: Any, server: Server) -> Iterator[Any]:
    """The auditor's page, in its own context."""
    yield from _signed_in(browser, server, "auditor")


@pytest.fixture(scope="module")
def admin(browser: Any, server: Server) -> Iterator[Any]:
    """The administrator's page, in its own context."""
    yield from _signed_in(browser, server, "admin")


def test_auditor_sees_verified_audit_log(auditor: Any) -> None:
    page = auditor
    assert page.url.endswith("/audit")
    status = page.get_by_role("status").filter(has_text="hash chain verified")
    assert status.is_visible()
    log = page.locator("table.audit").inner_text()
    for action in ("sign_in", "approval", "export"):
        assert action in log


@pytest.mark.parametrize(("width", "height"), [(1366, 768), (2560, 1440)])
def test_no_horizontal_overflow(
    investigator: Any, supervisor: Any, auditor: Any, admin: Any, width: int, height: int
) -> None:
    """Wide tables (contacts, audit) must wrap inside the page, on a laptop and a 1440p
    monitor."""
    for page, path in (
        (investigator, f"/cases/{CASE}"),
        (investigator, "/cases"),
        (supervisor, "/approvals"),
        (auditor, "/audit"),
        (admin, "/admin"),
    ):
        page.set_viewport_size({"width": width, "height": height})
        page.goto(path)
        scroll, inner = _no_horizontal_overflow(page)
        assert scroll <= inner, f"{path} at {width}x{height}: scrollWidth {scroll} > {inner}"
