"""The HTML and PDF reports in English and Korean: Korean has no untranslated text and
its PDF embeds a Hangul font."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cctrace.i18n import current_language, use_language
from cctrace.report.html import render_html
from cctrace.report.pdf import EvidenceItem, PdfHeader, render_pdf
from cctrace.tracing.result import TraceResult
from tests.i18n_words import untranslated, visible_text

SEOUL = ZoneInfo("Asia/Seoul")
HANGUL = ("\uac00", "\ud7a3")


def _data(trace: TraceResult) -> tuple[str, ...]:
    """What the fixture trace holds: camera names, ids, actor, its own notes."""
    names = [c.name for c in trace.cameras] + [c.camera_id for c in trace.cameras]
    return (*names, *trace.notes, trace.actor, trace.query.case_id)


def _has_hangul(text: str) -> bool:
    return any(HANGUL[0] <= ch <= HANGUL[1] for ch in text)


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_html_report(trace: TraceResult, snapshots: list[Path], lang: str) -> None:
    page = render_html(trace, snapshots[0].parent, tz=SEOUL, lang=lang)
    assert f'<html lang="{lang}">' in page
    text = visible_text(page)
    assert _has_hangul(text) is (lang == "ko")
    if lang == "ko":
        assert "접촉자 추적 보고서" in text and "+09:00" in text
        assert not untranslated(text, _data(trace)), untranslated(text, _data(trace))
    else:
        assert "Contact-tracing report" in text
    assert current_language() == "en"  # the language was only borrowed


def test_empty_html_report_in_korean(empty: TraceResult) -> None:
    text = visible_text(render_html(empty, lang="ko"))
    assert "포착 없음" in text
    assert not untranslated(text, _data(empty))


def _header() -> PdfHeader:
    return PdfHeader(
        case_id="C-2026-0193",
        legal_basis="Infectious Disease Control and Prevention Act art. 76-2",
        team="north",
        exported_by="supervisor1",
        exported_at=datetime(2024, 5, 2, 8, 0, tzinfo=UTC),
        window_from=datetime(2024, 4, 28, tzinfo=UTC),
        window_to=datetime(2024, 5, 1, 23, 59, tzinfo=UTC),
        status="open",
    )


def _fonts(data: bytes) -> set[str]:
    pypdf = pytest.importorskip("pypdf")
    fonts: set[str] = set()
    for page in pypdf.PdfReader(io.BytesIO(data)).pages:
        for font in page["/Resources"]["/Font"].values():
            fonts.add(str(font.get_object()["/BaseFont"]))
    return fonts


def _text(data: bytes) -> str:
    pypdf = pytest.importorskip("pypdf")
    return "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(data)).pages)


def test_english_pdf_is_unchanged(trace: TraceResult) -> None:
    data = render_pdf(trace, _header(), tz=SEOUL, lang="en")
    text = _text(data)
    assert "Contact tracing report - case C-2026-0193" in text
    assert "Page 1 of" in text and not _has_hangul(text)
    assert not any("Nanum" in f for f in _fonts(data))


def test_korean_pdf(trace: TraceResult) -> None:
    from cctrace.report.fonts import find_korean_fonts

    if find_korean_fonts() is None:
        pytest.skip("NanumGothic is not installed (bash scripts/setup.sh fetches it)")
    with use_language("ko"):
        item = EvidenceItem("1. Main entrance", "확진자", None, note="")
    data = render_pdf(trace, _header(), [item], tz=SEOUL, lang="ko")
    assert {"/AAAAAA+NanumGothic", "/AAAAAA+NanumGothicBold"} <= _fonts(data)
    text = _text(data)
    for words in ("접촉자 추적 보고서 - 사례 C-2026-0193", "확진자 동선", "밀접접촉자", "+09:00"):
        assert words in text
    data_words = (*_data(trace), *(_header().legal_basis, "north", "supervisor1"))
    left = untranslated(text, data_words)
    assert not left, left


def test_korean_pdf_without_the_font_says_how_to_get_it(
    trace: TraceResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cctrace.errors import ConfigError
    from cctrace.report import fonts

    monkeypatch.setenv(fonts.FONT_DIR_ENV, str(tmp_path))
    monkeypatch.setattr(fonts, "SYSTEM_DIR", tmp_path)
    fonts.register_korean_fonts.cache_clear()
    try:
        with pytest.raises(ConfigError, match=r"scripts/setup\.sh"):
            render_pdf(trace, _header(), lang="ko")
    finally:
        fonts.register_korean_fonts.cache_clear()
