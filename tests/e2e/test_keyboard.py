"""Every page works from the keyboard (issue 13): real headless Chromium on the demo site.

* **Focus order and visibility**: on each page (sign-in, case list with the new-case
  form, case page with the trace form, the frame picker open and a frame shown, open
  contacts, approvals, audit log, admin with users and the site plan), Tab from the top
  reaches every visible interactive element (links, buttons, inputs, selects,
  ``summary``, ``[tabindex]``) in document order, and each shows a focus indicator
  (its computed outline or box-shadow differs from the unfocused one). English on a
  laptop and Korean on a phone.
* **Actions with Enter or Space only**: each key action is reached with Tab and
  triggered with Enter or Space: signing in, opening a case, notes, picking a person in
  a frame and running the trace, confirming or rejecting a sighting, requesting an
  export and an un-blurring, the call list, a second-degree case, the open contacts
  link, approving and downloading the approved PDF, checking the audit chain and
  filtering it, adding and deactivating a user, uploading and placing a site plan, the
  language switch and signing out.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.browser_support import DESKTOP, PHONE, Server, context_for, sign_in

pytestmark = pytest.mark.slow

CASE = "DEMO-0001"
LOCALES = {"en": "en-GB", "ko": "ko-KR"}
INTERACTIVE = (
    "a[href], button, input:not([type=hidden]), select, textarea, summary, [tabindex],"
    " [contenteditable=''], [contenteditable=true]"
)
# Marks every visible element that Tab should stop at (document order; the pages use no
# positive tabindex) and records how it looks unfocused. A link, button, field or summary
# taken out of the tab order (tabindex="-1") is still expected, so it is reported.
MARK_STOPS = """(selector) => {
  document.activeElement && document.activeElement.blur();
  const look = (e) => { const s = getComputedStyle(e);
    return [s.outlineStyle, s.outlineWidth, s.outlineColor, s.boxShadow].join("|"); };
  const stops = [...document.querySelectorAll(selector)].filter((e) =>
    !e.disabled && !e.closest("[inert]") &&
    (e.tabIndex >= 0 || e.matches("a[href], button, input, select, textarea, summary")) &&
    (e.tagName !== "SUMMARY" || e.parentElement.tagName === "DETAILS") &&
    e.checkVisibility({ visibilityProperty: true, contentVisibilityAuto: true }) &&
    e.getClientRects().length > 0);
  stops.forEach((e, i) => { e.dataset.kbStop = String(i); e.dataset.kbLook = look(e); });
  return stops.map((e) => { const t = (e.getAttribute("aria-label") || e.textContent ||
    e.id || e.name || "").trim().replace(/\\s+/g, " ").slice(0, 40);
    return e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (t ? " '" + t + "'" : ""); });
}"""
# What has the focus now: its stop number (-1: an element that is not a stop; null:
# the document), whether it looks different from unfocused, the best contrast of its
# outline or box-shadow colour against the background it is drawn on, a description.
FOCUSED = """() => {
  const e = document.activeElement;
  if (!e || e === document.body || e === document.documentElement) return null;
  const s = getComputedStyle(e);
  const now = [s.outlineStyle, s.outlineWidth, s.outlineColor, s.boxShadow].join("|");
  const rgb = (text) => (text.match(/rgba?\\(([^)]+)\\)/) || [null, "0,0,0,0"])[1]
    .split(",").map(Number);
  const lum = ([r, g, b]) => [r, g, b].map((v) => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); })
    .reduce((a, v, i) => a + v * [0.2126, 0.7152, 0.0722][i], 0);
  const contrast = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05); };
  let bg = [255, 255, 255];  // what the indicator is drawn on: the nearest opaque background
  for (let p = e.parentElement; p; p = p.parentElement) {
    const c = rgb(getComputedStyle(p).backgroundColor);
    if (c.length < 4 || c[3] > 0.5) { bg = c; break; }
  }
  const colours = [];
  const outlined = s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0;
  if (outlined) colours.push(rgb(s.outlineColor));
  if (s.boxShadow && s.boxShadow !== "none") colours.push(rgb(s.boxShadow));
  const best = Math.max(0, ...colours.map((c) => contrast(c, bg)));
  return { stop: e.dataset.kbStop === undefined ? -1 : Number(e.dataset.kbStop),
    indicated: now !== e.dataset.kbLook && colours.length > 0, contrast: best,
    what: e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + " " +
      (e.className ? "." + String(e.className).split(" ")[0] : "") };
}"""
MIN_CONTRAST = 3.0
"""A focus indicator's colour against what it is drawn on (WCAG 2.2 non-text contrast)."""


# Moves the keyboard's starting point to the top of the page (a focused, then removed,
# element there): the next Tab goes to the page's first control, as on a fresh load.
FROM_THE_TOP = """() => {
  window.scrollTo(0, 0);
  const start = document.createElement("span");
  start.tabIndex = -1;
  document.body.prepend(start);
  start.focus();
  start.remove();
}"""


def tab_walk(page: Any) -> list[str]:
    """Tab from the top of the page through all its stops; the problems found."""
    names: list[str] = page.evaluate(MARK_STOPS, INTERACTIVE)
    page.evaluate(FROM_THE_TOP)
    problems: list[str] = []
    reached: list[int] = []
    for _ in range(len(names) * 4 + 10):
        page.keyboard.press("Tab")
        now = page.evaluate(FOCUSED)
        if now is None:  # past the last stop: focus left the page
            break
        if now["stop"] < 0:
            problems.append(f"Tab stops at {now['what']}, which is not a visible control")
            continue
        if reached and reached[-1] == now["stop"]:  # a date input's next field
            continue
        if not now["indicated"]:
            problems.append(f"no visible focus on {names[now['stop']]}")
        elif now["contrast"] < MIN_CONTRAST:
            problems.append(
                f"faint focus on {names[now['stop']]}: contrast {now['contrast']:.1f}:1"
            )
        reached.append(now["stop"])
        if now["stop"] == len(names) - 1:
            break
    if reached != list(range(len(names))):
        missing = [names[i] for i in range(len(names)) if i not in reached]
        order = reached != sorted(reached)
        problems.append(
            f"Tab reached {len(set(reached))} of {len(names)} controls"
            + (f"; never {missing[:5]}" if missing else "")
            + ("; out of document order" if order else "")
        )
    return problems


def tab_to(page: Any, selector: str, limit: int = 500) -> None:
    """Press Tab from the top of the page until an element matching ``selector`` has
    the focus (only the keyboard moves the focus)."""
    page.evaluate(FROM_THE_TOP)
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => !!document.activeElement?.matches(s)", selector):
            return
    pytest.fail(f"Tab never reached {selector}")


def press_on(page: Any, selector: str, key: str = "Enter") -> None:
    """Tab to ``selector`` and press ``key`` there."""
    tab_to(page, selector)
    page.keyboard.press(key)


def type_into(page: Any, selector: str, text: str) -> None:
    """Tab to a field and type into it."""
    tab_to(page, selector)
    page.keyboard.type(text)


def _frame_shown(page: Any) -> None:
    """Open the frame picker and show the first camera's first frame, by keyboard."""
    press_on(page, "#picker summary", "Enter")
    page.locator("#pick-camera option").first.wait_for(state="attached")
    press_on(page, "#pick-show", "Enter")
    page.locator("#pick-boxes .pick-box").first.wait_for()


@pytest.fixture(scope="module")
def plan_picture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small site-plan PNG (drawn here with Pillow)."""
    from PIL import Image, ImageDraw

    path = tmp_path_factory.mktemp("plan") / "plan.png"
    image = Image.new("RGB", (400, 300), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((20, 20, 380, 280), outline="black", width=3)
    draw.line((200, 20, 200, 280), fill="grey", width=2)
    image.save(path)
    return path


def _signed_in(browser: Any, server: Server, user: str | None, viewport: Any, lang: str) -> Any:
    context = context_for(browser, server, viewport, LOCALES[lang])
    page = context.new_page()
    if user is not None:
        sign_in(page, user, server.passwords[user])
    return page


PAGES = [
    # (page, who signs in, path, what to open first)
    ("sign-in", None, "/login", None),
    ("case list", "investigator", "/cases", None),
    ("case", "investigator", f"/cases/{CASE}", None),
    ("case, notes and picker open", "investigator", f"/cases/{CASE}", "picker"),
    ("open contacts", "investigator", "/contacts", None),
    ("approvals", "supervisor", "/approvals", None),
    ("audit log", "auditor", "/audit", None),
    ("admin", "admin", "/admin", None),
]


def _reload_after(page: Any, selector: str, key: str = "Enter") -> None:
    with page.expect_navigation():
        press_on(page, selector, key)
    page.wait_for_load_state("load")


def test_every_key_action_works_with_enter_or_space(
    browser: Any, server: Server, plan_picture: Path
) -> None:
    """One tracer's day by keyboard alone, at phone width in English."""
    store = server.app.state.cctrace.store
    context = context_for(browser, server, PHONE, LOCALES["en"])
    page = context.new_page()
    page.on("dialog", lambda d: d.accept("checking the contact's identity for the call"))
    try:
        # Sign in: type, Tab, Space on the button.
        page.goto("/login?next=/cases")
        type_into(page, "#username", "investigator")
        page.keyboard.press("Tab")
        page.keyboard.type(server.passwords["investigator"])
        with page.expect_navigation(url="**/cases"):
            press_on(page, "form[action='/login'] button[type=submit]", " ")

        # Open a case from the case list's form.
        type_into(page, "#case_id", "KB-0001")
        type_into(page, "#legal_basis", "keyboard test")
        with page.expect_navigation(url="**/cases/KB-0001"):
            press_on(page, "form[data-api='/api/cases'] button[type=submit]")
        assert store.cases.get("KB-0001").created_by == "investigator"

        # Notes: Enter opens the summary, Enter on the button saves.
        press_on(page, ".case-head details summary")
        assert page.locator(".case-head details").get_attribute("open") is not None
        page.keyboard.press("Tab")
        page.keyboard.type("typed with the keyboard")
        _reload_after(page, ".case-head details button[type=submit]")
        assert store.cases.get("KB-0001").notes == "typed with the keyboard"

        # Pick a person in a frame (Space on their box), then Enter runs the trace.
        _frame_shown(page)
        press_on(page, "#pick-boxes .pick-box", " ")
        picked = page.locator("#tracklet_id").input_value()
        assert picked.isdigit(), "Space on a person's box fills the tracklet field"
        assert page.evaluate("document.activeElement.id") == "run-trace"
        page.keyboard.press("Enter")
        page.locator(".summary").wait_for(timeout=240_000)

        # Decide a sighting on the demo case: reject one awaiting review, or say "Not the
        # case" of a confirmed one (a confirm dialog); the page reloads when re-traced.
        page.goto(f"/cases/{CASE}")
        decide = (
            ".review-item button.danger"
            if page.locator(".review-item button.danger").count()
            else "tr.st-accepted button[data-api]"
        )
        assert page.locator(decide).count(), "the demo case has a sighting to decide"
        with page.expect_navigation(timeout=240_000):
            press_on(page, decide)
        page.wait_for_load_state("load")
        decided = [a for a in store.audit.entries(CASE) if a.action == "sighting_decision"]
        assert decided and decided[-1].query["decision"] == "reject"

        # Export request (Enter in the reason field), un-blur request (a prompt).
        type_into(page, "#export-reason", "hand-over to the district office")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        unblur = "button[data-prompt]"
        if page.locator(unblur).count():
            _reload_after(page, unblur)
        kinds = {a.kind for a in store.approvals.find(CASE)}
        assert "export" in kinds
        assert page.locator(unblur).count() == 0 or "unblur" in kinds

        # The call list downloads with Enter.
        with page.expect_download() as download:
            press_on(page, "a.download")
        assert download.value.suggested_filename == f"{CASE}-call-list.csv"

        # A second-degree case from a contact's "Trace contact" button.
        with page.expect_navigation(url=re.compile(r"/cases/(?!DEMO-0001$)[^/?#]+$")):
            press_on(page, f"button[data-api^='/api/cases/{CASE}/contacts/']")
        child = page.url.rsplit("/", 1)[1]
        assert store.cases.get(child).parent_case_id == CASE

        # The open-work link and an open contact's link.
        page.goto("/cases")
        with page.expect_navigation(url="**/contacts"):
            press_on(page, ".open-work a")
        if page.locator("table.data a[href*='#contact-']").count():
            with page.expect_navigation(url=re.compile(r"#contact-\d+$")):
                press_on(page, "table.data a[href*='#contact-']")

        # The language switch and signing out.
        with page.expect_navigation():
            press_on(page, "nav.lang a[hreflang=ko]")
        assert page.locator("html").get_attribute("lang") == "ko"
        with page.expect_navigation(url=re.compile(r"/login")):
            press_on(page, "form.who button[type=submit]", " ")
    finally:
        context.close()

    # A supervisor approves the export with Enter.
    page = _signed_in(browser, server, "supervisor", PHONE, "en")
    try:
        page.goto("/approvals")
        export = next(a for a in store.approvals.find(CASE) if a.kind == "export")
        approve = f"button.primary[data-api='/api/approvals/{export.id}']"
        _reload_after(page, approve)
        assert next(a for a in store.approvals.find(CASE) if a.id == export.id).status == "approved"
    finally:
        page.context.close()

    # The investigator downloads the approved export's PDF with Enter.
    page = _signed_in(browser, server, "investigator", PHONE, "en")
    try:
        page.goto(f"/cases/{CASE}")
        with page.expect_download() as download:
            press_on(page, f"a[download][href$='/exports/{export.id}/report.pdf']")
        assert Path(download.value.path()).read_bytes().startswith(b"%PDF")
    finally:
        page.context.close()

    # An auditor checks the whole chain and filters by case.
    page = _signed_in(browser, server, "auditor", PHONE, "en")
    try:
        page.goto("/audit")
        press_on(page, "#verify-all")
        page.locator("#flash:not([hidden])").wait_for()
        assert "verifies" in page.locator("#flash").inner_text()
        type_into(page, "#case_id", CASE)
        with page.expect_navigation(url=f"**/audit?case_id={CASE}"):
            page.keyboard.press("Enter")
    finally:
        page.context.close()

    # An admin adds and deactivates a user, uploads a site plan and places it.
    page = _signed_in(browser, server, "admin", PHONE, "en")
    try:
        page.goto("/admin")
        type_into(page, "#new-username", "kb-tracer")
        type_into(page, "#new-password", "a long keyboard password")
        _reload_after(page, "form[data-api='/api/admin/users'] button[type=submit]")
        assert store.users.get("kb-tracer").active
        _reload_after(page, "button[data-api='/api/admin/users/kb-tracer']")
        assert not store.users.get("kb-tracer").active

        with page.expect_file_chooser() as chooser:
            press_on(page, "#plan-file", " ")
        chooser.value.set_files(str(plan_picture))
        _reload_after(page, "#plan-file ~ button[type=submit]")
        for n, (u, v, x, y) in enumerate([(20, 20, 0, 10), (380, 20, 36, 10), (20, 280, 0, -16)]):
            for part, value in zip("uvab", (u, v, x, y), strict=True):
                tab_to(page, f"#p{n + 1}_{part}")
                page.keyboard.press("Control+A")
                page.keyboard.type(str(value))
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.locator("#plan-in-force").inner_text().strip() == "the uploaded plan"
        assert page.locator("#plan-check").is_visible()
    finally:
        page.context.close()
    shutil.rmtree(plan_picture.parent, ignore_errors=True)


@pytest.mark.parametrize(("lang", "screen"), [("en", "laptop"), ("ko", "phone")])
def test_tab_reaches_every_control_with_a_visible_focus(
    browser: Any, server: Server, lang: str, screen: str
) -> None:
    """After the key-action test (module order), so the pages also hold a pending
    approval, an approved export's files and an uploaded, placed site plan."""
    viewport = DESKTOP if screen == "laptop" else PHONE
    pages: dict[str | None, Any] = {}
    problems: list[str] = []
    try:
        for name, user, path, opening in PAGES:
            if user not in pages:
                pages[user] = _signed_in(browser, server, user, viewport, lang)
            page = pages[user]
            page.goto(path)
            page.wait_for_load_state("load")
            if opening == "picker":
                page.locator(".case-head details summary").click()
                _frame_shown(page)
            problems += [f"{name} ({lang}, {screen}): {p}" for p in tab_walk(page)]
    finally:
        for page in pages.values():
            page.context.close()
    assert not problems, "\n".join(problems)
