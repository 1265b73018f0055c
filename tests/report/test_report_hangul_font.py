"""The HTML report carries its own Korean font (a NanumGothic subset) so Hangul shows on
a device without a Korean font; an English report carries none."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import pytest

from cctrace.report.fonts import find_korean_fonts
from cctrace.report.hangul_font import HANGUL
from cctrace.report.html import render_html
from cctrace.tracing.result import TraceResult
from tests.i18n_words import visible_text

WOFF = re.compile(r"font-weight: (\d+); src: [^;]*url\(data:font/woff;base64,([A-Za-z0-9+/=]+)\)")


@pytest.fixture
def nanum() -> None:
    if find_korean_fonts() is None:
        pytest.skip("NanumGothic is not installed (scripts/setup.sh fetches it)")


@pytest.mark.usefixtures("nanum")
def test_korean_report_embeds_the_hangul_it_uses(trace: TraceResult, snapshots: list[Path]) -> None:
    from fontTools.ttLib import TTFont

    page = render_html(trace, snapshots[0].parent, lang="ko")
    fonts = {int(w): base64.b64decode(data) for w, data in WOFF.findall(page)}
    assert set(fonts) == {400, 700}, "regular and bold"
    used = set(HANGUL.findall(visible_text(page)))
    assert len(used) > 50
    for weight, data in fonts.items():
        assert data.startswith(b"wOFF") and len(data) < 200_000, (weight, len(data))
        font = TTFont(io.BytesIO(data))
        cmap = font.getBestCmap()
        missing = sorted(c for c in used if ord(c) not in cmap)
        assert not missing, (weight, missing[:10])
        assert not [t for t in font.keys() if t.startswith("TSI")]  # noqa: SIM118
    assert '"cctrace-hangul", "Segoe UI"' in page  # first in the stack, Hangul only


def test_english_report_embeds_no_font(trace: TraceResult, snapshots: list[Path]) -> None:
    page = render_html(trace, snapshots[0].parent, lang="en")
    assert not HANGUL.search(page)
    assert "@font-face" not in page
