"""The Korean web font: served by the app itself (never fetched from outside), public
(the sign-in page needs it), and nothing but the two NanumGothic files."""

from __future__ import annotations

import io

import pytest

from cctrace.report.fonts import find_korean_fonts
from tests.web.web_support import WebEnv


def test_hangul_font_is_served_for_pages_without_a_korean_font(web: WebEnv) -> None:
    anonymous = web.client_for("")
    assert anonymous.get("/fonts/../site.yaml").status_code == 404
    assert anonymous.get("/fonts/DejaVuSans.ttf").status_code == 404
    fonts = find_korean_fonts()
    if fonts is None:
        pytest.skip("NanumGothic is not installed (scripts/setup.sh fetches it)")
    resp = anonymous.get("/fonts/NanumGothic.ttf")
    assert resp.status_code == 200 and resp.headers["content-type"] == "font/ttf"
    # the same glyphs, without the VTT source tables Chromium's font sanitiser refuses
    from fontTools.ttLib import TTFont

    served = TTFont(io.BytesIO(resp.content))
    assert not [t for t in served.keys() if t.startswith("TSI")]  # noqa: SIM118
    assert served.getGlyphOrder() == TTFont(str(fonts[0])).getGlyphOrder()
    css = anonymous.get("/static/app.css").text
    assert "url(/fonts/NanumGothic.ttf)" in css and "unicode-range" in css
