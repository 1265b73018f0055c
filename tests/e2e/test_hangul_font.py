"""Hangul is drawn with a Korean font, never as empty boxes (issue 13, item 2).

The test machine has no Korean system font, like many field laptops: every Hangul-only
element (headings, labels, the language switch's "한국어" marked ``lang="ko"`` on an
English page) must be drawn with the app's Korean web font. Chromium says which fonts
drew a node (DevTools ``CSS.getPlatformFontsForNode``); a Latin-only font drawing Hangul
means tofu.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e.browser_support import DESKTOP, PHONE, Server, context_for

pytestmark = pytest.mark.slow

HANGUL_ONLY = re.compile(r"^[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f\s]+$")
KOREAN_FONT = re.compile(r"Nanum|Gothic|KR|CJK|Malgun", re.IGNORECASE)
MARK = """(pattern) => {
  const re = new RegExp(pattern);
  const found = [...document.querySelectorAll("body *")].filter((e) =>
    e.children.length === 0 && e.getClientRects().length > 0 && re.test(e.textContent.trim()));
  found.forEach((e, i) => e.setAttribute("data-hangul", String(i)));
  return found.map((e) => e.textContent.trim());
}"""


def _fonts_drawing_hangul(page: Any) -> list[str]:
    """Hangul-only elements drawn with a font that has no Hangul."""
    texts = page.evaluate(MARK, HANGUL_ONLY.pattern)
    assert texts, "the page should have Hangul-only text"
    page.evaluate("document.fonts.ready.then(() => true)")
    # a fresh layout once the web fonts are in (DevTools reports the last layout's fonts)
    page.evaluate(
        "() => { document.body.style.display = 'none'; void document.body.offsetHeight;"
        " document.body.style.display = ''; void document.body.offsetHeight; }"
    )
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument")["root"]["nodeId"]
    bad = []
    for i, text in enumerate(texts):
        node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": f"[data-hangul='{i}']"})
        fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node["nodeId"]})["fonts"]
        wrong = [f["familyName"] for f in fonts if not KOREAN_FONT.search(f["familyName"])]
        if wrong:
            bad.append(f"{text!r} drawn with {wrong}")
    cdp.detach()
    return bad


@pytest.mark.parametrize("screen", ["laptop", "phone"])
def test_the_language_switch_draws_hangul_on_an_english_page(
    browser: Any, server: Server, screen: str
) -> None:
    """The English sign-in page: "한국어" (``lang="ko"``) and any other Hangul are drawn
    with a Korean font. (On Korean pages DevTools names DejaVu Sans for Hangul that the
    screenshots show drawn in NanumGothic, so those pages are checked by eye.)"""
    context = context_for(browser, server, DESKTOP if screen == "laptop" else PHONE, "en-GB")
    try:
        page = context.new_page()
        page.goto("/login")
        page.wait_for_load_state("networkidle")
        bad = _fonts_drawing_hangul(page)
        assert not bad, "\n".join(bad[:10])
    finally:
        context.close()


def test_korean_html_report_draws_hangul_with_its_own_font(browser: Any, server: Server) -> None:
    """The demo case's HTML report in Korean, opened on this machine (no Korean system
    font) at phone width: the report's embedded NanumGothic subset (regular and bold) is
    loaded to draw its Hangul. (DevTools' platform-font answer is not used here: on a
    ``lang="ko"`` document it names a Latin font for Hangul the screenshot shows drawn.)"""
    from cctrace.report.fonts import find_korean_fonts
    from cctrace.report.html import render_html
    from cctrace.web.services import latest_result

    if find_korean_fonts() is None:
        pytest.skip("NanumGothic is not installed (scripts/setup.sh fetches it)")
    state = server.app.state.cctrace
    result = latest_result(state, "DEMO-0001")
    assert result is not None
    html = render_html(result, tz=state.site.zone(), lang="ko")
    context = context_for(browser, server, PHONE, "ko-KR")
    try:
        page = context.new_page()
        page.set_content(html)
        loaded = page.evaluate(
            "document.fonts.ready.then(() => [...document.fonts]"
            ".filter((f) => f.family.includes('cctrace-hangul') && f.status === 'loaded')"
            ".map((f) => String(f.weight)))"
        )
        # the browser loads a unicode-range face only to draw characters it covers
        assert sorted(loaded) == ["400", "700"], loaded
    finally:
        context.close()
