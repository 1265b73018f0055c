"""The HTML report's Korean font, embedded: a subset of NanumGothic (SIL OFL 1.1).

A report is one self-contained HTML file, opened wherever the tracer is: on a device
with no Korean font (a Linux kiosk, a locked-down laptop) its Hangul would show as empty
boxes. :func:`hangul_font_css` returns ``@font-face`` rules holding NanumGothic (regular
and bold, the PDF's font, installed by ``scripts/setup.sh``) cut down to the Hangul the
report uses, as WOFF data URLs; a device's own Korean font is used first (``local()``).
Empty when the text has no Hangul or the font is not installed (the report then relies
on the device's fonts, as before).
"""

from __future__ import annotations

import base64
import functools
import io
import re

FAMILY = "cctrace-hangul"
"""The family name the report's font stack starts with (limited to Hangul)."""

UNICODE_RANGE = "U+1100-11FF, U+3130-318F, U+AC00-D7AF"
HANGUL = re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]")
LOCAL_FONTS = {
    400: (
        "Malgun Gothic",
        "Apple SD Gothic Neo",
        "Noto Sans KR",
        "Noto Sans CJK KR",
        "NanumGothic",
    ),
    700: (
        "Malgun Gothic Bold",
        "Apple SD Gothic Neo Bold",
        "Noto Sans KR Bold",
        "Noto Sans CJK KR Bold",
        "NanumGothic Bold",
    ),
}


def hangul_font_css(text: str) -> str:
    """``@font-face`` rules for the Hangul in ``text`` (regular and bold), or ``""``."""
    from cctrace.report.fonts import find_korean_fonts

    chars = "".join(sorted(set(HANGUL.findall(text))))
    fonts = find_korean_fonts()
    if not chars or fonts is None:
        return ""
    rules = []
    for weight, path in zip((400, 700), fonts, strict=True):
        data = base64.b64encode(_subset_woff(str(path), chars)).decode("ascii")
        local = ", ".join(f'local("{name}")' for name in LOCAL_FONTS[weight])
        rules.append(
            f'@font-face {{ font-family: "{FAMILY}"; font-weight: {weight}; '
            f'src: {local}, url(data:font/woff;base64,{data}) format("woff"); '
            f"unicode-range: {UNICODE_RANGE}; }}"
        )
    return "\n".join(rules)


@functools.lru_cache(maxsize=16)
def _subset_woff(path: str, chars: str) -> bytes:
    """The font at ``path`` with only the glyphs of ``chars``, as WOFF (zlib), without
    hinting or the VTT sources (``TSI*``) browsers' font sanitiser refuses."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    options = subset.Options()
    options.hinting = False
    options.drop_tables += ["TSI0", "TSI1", "TSI2", "TSI3", "TSI5", "DSIG"]
    options.flavor = "woff"
    font = TTFont(path)
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=chars)
    subsetter.subset(font)
    out = io.BytesIO()
    font.flavor = "woff"
    font.save(out)
    return out.getvalue()
