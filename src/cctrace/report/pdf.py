"""A case report as PDF (reportlab, BSD licence): header, route, contacts, evidence.

The PDF shows the case and its confirmed contacts only: every picture in it is an
:class:`~cctrace.report.evidence.Evidence` the caller made with everyone else's face
blurred (see :mod:`cctrace.report.case_export`). Layout: A4 portrait; a header
(case, legal basis, infectious window, team, who exported and when, the time zone, and
a confidentiality line), summary counts, the route table and site plan, the contacts
table, evidence pictures with captions, the trace's notes; "Page n of m" and the
case id at the foot of every page. Times are the site's local time (``tz``): with their
offset in the header, short in the tables with the zone in the column heading.

The PDF is in English or Korean (``lang``, default the current language of
:mod:`cctrace.i18n`). Korean text is set in NanumGothic (:mod:`cctrace.report.fonts`),
which is also used for an English PDF whose data (camera names, legal basis) holds
characters outside Latin-1; otherwise Helvetica.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    Image,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from cctrace.i18n import N_, current_language, gettext, use_language
from cctrace.localtime import LocalClock
from cctrace.plans.storage import Background
from cctrace.report.evidence import Evidence
from cctrace.report.formatting import (
    camera_index,
    camera_name,
    contact_label,
    duration,
    label,
    mask_label,
    message_text,
    metres,
    result_clock,
    score,
    seconds_between,
)
from cctrace.report.siteplan_pdf import route_drawing
from cctrace.store.files import write_file_atomic
from cctrace.tracing.result import TraceResult
from cctrace.types import SightingStatus

CONFIDENTIAL = N_(
    "CONFIDENTIAL - health protection contact tracing. Personal data: share only with "
    "people entitled to it under the legal basis above. Faces of everyone other than the "
    "case and the confirmed close contacts are blurred."
)
PAGE_W, PAGE_H = A4
MARGIN = 16 * mm
CONTENT_W = PAGE_W - 2 * MARGIN
EVIDENCE_W = (CONTENT_W - 8 * mm) / 2
EVIDENCE_MAX_H = 80 * mm


@dataclass(frozen=True)
class PdfHeader:
    """Who and what the export is for (from the case record and the exporter)."""

    case_id: str
    legal_basis: str
    team: str
    exported_by: str
    exported_at: datetime
    window_from: datetime | None = None
    window_to: datetime | None = None
    status: str = ""
    parent_case_id: str | None = None


@dataclass(frozen=True)
class EvidenceItem:
    """One picture in the evidence section (``evidence`` None: none could be made)."""

    title: str
    caption: str
    evidence: Evidence | None
    note: str = ""


@dataclass(frozen=True)
class Fonts:
    """The PDF's regular and bold font names."""

    regular: str = "Helvetica"
    bold: str = "Helvetica-Bold"


def _fonts(texts: Sequence[str]) -> Fonts:
    """NanumGothic for a Korean PDF or for data outside Latin-1, else Helvetica."""
    from cctrace.report.fonts import find_korean_fonts, register_korean_fonts

    korean = current_language() == "ko"
    if not korean and not any(ord(ch) > 0xFF for text in texts for ch in text):
        return Fonts()
    if not korean and find_korean_fonts() is None:
        return Fonts()  # English with a few foreign letters: readable without them
    regular, bold = register_korean_fonts()
    return Fonts(regular, bold)


def _styles(fonts: Fonts = Fonts()) -> dict[str, ParagraphStyle]:
    base = getSampleStyleSheet()
    body = ParagraphStyle(
        "body", parent=base["BodyText"], fontName=fonts.regular, fontSize=9, leading=11.5
    )
    return {
        "title": ParagraphStyle(
            "title", parent=base["Title"], fontName=fonts.bold, fontSize=17, spaceAfter=4
        ),
        "h2": ParagraphStyle(
            "h2", parent=base["Heading2"], fontName=fonts.bold, fontSize=12.5, spaceBefore=8
        ),
        "body": body,
        "small": ParagraphStyle("small", parent=body, fontSize=7.5, leading=9.5),
        "cell": ParagraphStyle("cell", parent=body, fontSize=8, leading=9.5),
        "head": ParagraphStyle("head", parent=body, fontName=fonts.bold, fontSize=8, leading=9.5),
        "warn": ParagraphStyle(
            "warn",
            parent=body,
            textColor=colors.HexColor("#a61e4d"),
            borderColor=colors.HexColor("#a61e4d"),
            borderWidth=0.8,
            borderPadding=4,
            spaceBefore=4,
            spaceAfter=8,
        ),
    }


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(text), style)


def _table(rows: list[list[Any]], widths: Sequence[float], fonts: Fonts = Fonts()) -> Table:
    table = Table(rows, colWidths=list(widths), repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, 0), fonts.bold, 8),
                ("FONT", (0, 1), (-1, -1), fonts.regular, 8),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e9ecef")),
                ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#adb5bd")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f8f9fa")]),
            ]
        )
    )
    return table


def _header(h: PdfHeader, st: dict[str, ParagraphStyle], clock: LocalClock) -> list[Flowable]:
    window = gettext("{start} to {end}").format(
        start=clock.full(h.window_from), end=clock.full(h.window_to)
    )
    parent = (
        gettext(" (opened from {case})").format(case=h.parent_case_id) if h.parent_case_id else ""
    )
    rows = [
        [gettext("Case"), h.case_id + parent],
        [gettext("Legal basis"), h.legal_basis],
        [gettext("Infectious window"), window],
        [gettext("Team"), h.team],
        [gettext("Case status"), label(h.status) if h.status else "-"],
        [gettext("Exported by"), f"{h.exported_by}, {clock.full(h.exported_at)}"],
        [gettext("Times"), gettext("local time, {zone}").format(zone=clock.caption)],
    ]
    table = Table(
        [[_p(k, st["cell"]), _p(v, st["cell"])] for k, v in rows],
        colWidths=[38 * mm, CONTENT_W - 38 * mm],
    )
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
    return [
        _p(gettext("Contact tracing report - case {case}").format(case=h.case_id), st["title"]),
        table,
        _p(gettext(CONFIDENTIAL), st["warn"]),
    ]


def _summary(
    result: TraceResult, st: dict[str, ParagraphStyle], clock: LocalClock
) -> list[Flowable]:
    q = result.query
    review = sum(s.status == SightingStatus.NEEDS_REVIEW for s in result.sightings)
    close = sum(c.is_close_contact for c in result.contacts)
    text = gettext(
        "Trace run {time} by {actor}. {route} accepted sighting(s) on the route, {review} "
        "awaiting review (not shown); {contacts} contact(s), {close} close contact(s) "
        "(within {m} m for at least {min} min in total)."
    ).format(
        time=clock.full(result.created_at),
        actor=result.actor,
        route=len(result.route),
        review=review,
        contacts=len(result.contacts),
        close=close,
        m=f"{q.distance_m:g}",
        min=f"{q.minutes:g}",
    )
    return [_p(gettext("Summary"), st["h2"]), _p(text, st["body"])]


def _route(
    result: TraceResult,
    st: dict[str, ParagraphStyle],
    clock: LocalClock,
    fonts: Fonts,
    site_plan: Background | None = None,
) -> list[Flowable]:
    cams = camera_index(result)
    out: list[Flowable] = [_p(gettext("Route of the case"), st["h2"])]
    if not result.route:
        return [*out, _p(gettext("No accepted sighting."), st["body"])]
    rows: list[list[Any]] = [
        [
            "#",
            _p(gettext("Time ({zone})").format(zone=clock.caption), st["head"]),
            gettext("Camera"),
            gettext("Duration"),
            gettext("Score"),
            gettext("Mask"),
        ]
    ]
    for i, s in enumerate(result.route, start=1):
        rows.append(
            [
                str(i),
                _p(f"{clock.short(s.start)} - {clock.clock(s.end)}", st["cell"]),
                _p(camera_name(cams, s.camera_id), st["cell"]),
                duration(seconds_between(s.start, s.end)),
                score(s.score),
                mask_label(s.mask_status),
            ]
        )
    out.append(_table(rows, [8 * mm, 52 * mm, 50 * mm, 22 * mm, 14 * mm, 32 * mm], fonts))
    plan = route_drawing(result, CONTENT_W, clock, fonts.regular, fonts.bold, site_plan)
    if plan is not None:
        drawing, note = plan
        out.append(Spacer(1, 4 * mm))
        out.append(KeepTogether([drawing, _p(note, st["small"])]))
    return out


def _contacts(
    result: TraceResult, st: dict[str, ParagraphStyle], clock: LocalClock, fonts: Fonts
) -> list[Flowable]:
    cams = camera_index(result)
    out: list[Flowable] = [_p(gettext("Contacts"), st["h2"])]
    if not result.contacts:
        return [*out, _p(gettext("No contact found."), st["body"])]
    start = _p(gettext("Start ({zone})").format(zone=clock.caption), st["head"])
    rows: list[list[Any]] = [
        [gettext("Contact"), gettext("Camera"), start, gettext("Within (s)"),
         gettext("Min dist."), gettext("Case mask"), gettext("Contact mask"), gettext("Close")]
    ]  # fmt: skip
    for n, c in enumerate(result.contacts, start=1):
        label = contact_label(n, c, cams, clock)
        for e in sorted(c.encounters, key=lambda e: e.start):
            rows.append(
                [
                    Paragraph(
                        f"{escape(label)}<br/><font size=6.5 color='#6c757d'>"
                        + escape(gettext("tracklet {id}").format(id=e.contact_tracklet_id))
                        + "</font>",
                        st["cell"],
                    ),
                    _p(camera_name(cams, e.camera_id), st["cell"]),
                    _p(clock.short(e.start), st["cell"]),
                    f"{e.seconds_within:.1f}",
                    metres(e.min_distance_m),
                    mask_label(e.case_mask),
                    mask_label(e.contact_mask),
                    gettext("yes") if c.is_close_contact else gettext("no"),
                ]
            )
    widths = [38, 26, 26, 14, 15, 19, 19, 11]
    out.append(_table(rows, [w * mm for w in widths], fonts))
    out.append(
        _p(
            gettext(
                "Only close contacts are shown unblurred in the pictures; other contacts are "
                "listed for completeness and their faces stay blurred."
            ),
            st["small"],
        )
    )
    return out


def _picture(item: EvidenceItem, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    parts: list[Flowable] = [_p(item.title, st["cell"])]
    ev = item.evidence
    if ev is not None:
        h, w = ev.image.shape[:2]
        scale = min(EVIDENCE_W / w, EVIDENCE_MAX_H / h)
        parts.append(Image(io.BytesIO(ev.jpeg()), width=w * scale, height=h * scale))
    parts.append(_p(item.caption, st["small"]))
    note = item.note or (ev.note if ev is not None else "")
    if note:
        parts.append(_p(note, st["small"]))
    return parts


def _evidence(
    title: str, items: Sequence[EvidenceItem], st: dict[str, ParagraphStyle]
) -> list[Flowable]:
    if not items:
        return []
    cells = [_picture(i, st) for i in items]
    rows = [cells[i : i + 2] for i in range(0, len(cells), 2)]
    if len(rows[-1]) == 1:
        rows[-1].append([Spacer(1, 1)])
    table = Table(rows, colWidths=[CONTENT_W / 2] * 2)
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
    return [_p(title, st["h2"]), table]


def _notes(result: TraceResult, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    if not result.notes:
        return []
    return [
        _p(gettext("Notes"), st["h2"]),
        *(_p(f"- {message_text(n)}", st["body"]) for n in result.notes),
    ]


class _NumberedCanvas(Canvas):
    """Writes "page n of m" once the page count is known."""

    footer = ""
    font = "Helvetica"
    page_text = "Page {page} of {total}"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pages: list[dict[str, Any]] = []

    def showPage(self) -> None:
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._pages)
        for state in self._pages:
            self.__dict__.update(state)
            self.setFont(self.font, 7.5)
            self.setFillColor(colors.HexColor("#495057"))
            self.drawString(MARGIN, 9 * mm, self.footer)
            self.drawRightString(
                PAGE_W - MARGIN, 9 * mm, self.page_text.format(page=self._pageNumber, total=total)
            )
            super().showPage()
        super().save()


def render_pdf(
    result: TraceResult,
    header: PdfHeader,
    route_evidence: Sequence[EvidenceItem] = (),
    contact_evidence: Sequence[EvidenceItem] = (),
    tz: tzinfo | None = None,
    lang: str | None = None,
    site_plan: Background | None = None,
) -> bytes:
    """The report as PDF bytes (see the module docstring for its contents); times are
    local to ``tz`` (the site's zone; default UTC), text in ``lang`` (``en``/``ko``;
    default the current language); the route drawn on ``site_plan`` when given."""
    with use_language(lang):
        return _render(result, header, route_evidence, contact_evidence, tz, site_plan)


def _data_texts(result: TraceResult, header: PdfHeader, items: Sequence[EvidenceItem]) -> list[str]:
    """The PDF's texts that come from data (names, ids, notes), not from the catalogue."""
    texts = [header.case_id, header.legal_basis, header.team, header.exported_by, result.actor]
    texts += [c.name or c.camera_id for c in result.cameras]
    texts += list(result.notes)
    texts += [t for i in items for t in (i.title, i.caption, i.note)]
    return texts


def _render(
    result: TraceResult,
    header: PdfHeader,
    route_evidence: Sequence[EvidenceItem],
    contact_evidence: Sequence[EvidenceItem],
    tz: tzinfo | None,
    site_plan: Background | None = None,
) -> bytes:
    fonts = _fonts(_data_texts(result, header, [*route_evidence, *contact_evidence]))
    st = _styles(fonts)
    clock = result_clock(result, tz or UTC)
    story: list[Flowable] = [
        *_header(header, st, clock),
        *_summary(result, st, clock),
        *_route(result, st, clock, fonts, site_plan),
        *_contacts(result, st, clock, fonts),
        *_evidence(gettext("Evidence: route of the case"), route_evidence, st),
        *_evidence(gettext("Evidence: close contacts"), contact_evidence, st),
        *_notes(result, st),
    ]
    buf = io.BytesIO()
    title = gettext("Contact tracing report - case {case}").format(case=header.case_id)
    doc = SimpleDocTemplate(
        buf,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN + 4 * mm,
        title=title,
        author=header.exported_by,
        subject=gettext("Confidential"),
        creator="cctrace",
        lang=current_language(),
    )
    footer = gettext("Case {case} - confidential - exported {time}").format(
        case=header.case_id, time=clock.full(header.exported_at)
    )
    canvas_cls = type(
        "_Canvas",
        (_NumberedCanvas,),
        {"footer": footer, "font": fonts.regular, "page_text": gettext("Page {page} of {total}")},
    )
    doc.build(story, canvasmaker=canvas_cls)
    return buf.getvalue()


def write_pdf(
    path: str | os.PathLike[str],
    result: TraceResult,
    header: PdfHeader,
    route_evidence: Sequence[EvidenceItem] = (),
    contact_evidence: Sequence[EvidenceItem] = (),
    tz: tzinfo | None = None,
    lang: str | None = None,
    site_plan: Background | None = None,
) -> Path:
    """Write :func:`render_pdf` to ``path`` atomically; returns the path."""
    data = render_pdf(result, header, route_evidence, contact_evidence, tz, lang, site_plan)
    out = Path(path)
    write_file_atomic(out, data)
    return out
