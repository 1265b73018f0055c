"""Export a case: ``<case>.pdf`` with evidence pictures, plus the sightings and contacts CSVs.

Who stays recognisable (DESIGN.md, "Exports show the case and confirmed contacts;
every other face is blurred"):

* **the case**: the accepted sightings on the route (``TraceResult.route``);
* **confirmed contacts**: contacts with ``is_close_contact`` True (they met the
  distance and cumulative-time thresholds against accepted sightings).

Every other face, in every picture of the export, is blurred: people tracked in the
same frame, sightings still awaiting review, contacts below the thresholds, and
people only the person or face detector saw (:mod:`cctrace.report.selective_blur`).
Pictures are made from the original footage; when a footage file is gone the
stored, ingest-redacted snapshot stands in and the PDF says so. CSVs carry no images.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cctrace.config import SiteConfig
from cctrace.errors import CctraceError
from cctrace.i18n import gettext, use_language
from cctrace.localtime import LocalClock
from cctrace.plans.storage import map_background
from cctrace.report.bundle import safe_stem
from cctrace.report.csv_export import write_contacts_csv, write_sightings_csv
from cctrace.report.evidence import (
    Evidence,
    EvidenceUnavailableError,
    ExtraDetectors,
    evidence_or_snapshot,
)
from cctrace.report.formatting import (
    camera_index,
    camera_name,
    contact_label,
    metres,
    result_clock,
)
from cctrace.report.frames import FrameSource
from cctrace.report.pdf import EvidenceItem, PdfHeader, write_pdf
from cctrace.store.records import CaseRecord
from cctrace.store.repository import Store
from cctrace.tracing.result import TraceResult

logger = logging.getLogger(__name__)

MAX_PICTURES = 80
"""At most this many evidence pictures per section (route, contacts) in one PDF."""


@dataclass(frozen=True)
class CaseExport:
    """What :func:`export_case` wrote."""

    pdf: Path
    sightings_csv: Path
    contacts_csv: Path
    route_sightings: int
    close_contacts: int
    pictures: int
    """Evidence pictures in the PDF."""
    from_snapshots: int
    """Of those, stored snapshots standing in for missing footage."""
    missing_pictures: int
    """Sightings or encounters with no picture at all (no footage, no snapshot)."""


def allowed_people(result: TraceResult) -> dict[int, str]:
    """The tracklets that stay recognisable in an export, with their picture labels:
    the route (``"Case"``) and the close contacts' tracklets (``"Contact C<n>"``, n as
    in the contacts table)."""
    allowed = {s.tracklet_id: "Case" for s in result.route}
    for n, contact in enumerate(result.contacts, start=1):
        if contact.is_close_contact:
            for tid in contact.contact_tracklet_ids:
                allowed.setdefault(tid, f"Contact C{n}")
    return allowed


class _Pictures:
    """Makes evidence pictures for one export, counting fallbacks and failures."""

    def __init__(self, store: Store, allowed: dict[int, str], detectors: ExtraDetectors):
        self.store = store
        self.allowed = allowed
        self.case_ids = frozenset(t for t, label in allowed.items() if label == "Case")
        self.detectors = detectors
        self.frames = FrameSource()
        self.from_snapshots = 0
        self.missing = 0

    def make(
        self,
        tracklet_id: int,
        snapshot_path: str | None,
        at: datetime | None = None,
        focus: tuple[int, ...] = (),
    ) -> tuple[Evidence | None, str]:
        try:
            ev = evidence_or_snapshot(
                self.store,
                tracklet_id,
                self.allowed,
                at=at,
                focus=focus,
                case_ids=self.case_ids,
                detectors=self.detectors,
                frames=self.frames,
                snapshot_path=snapshot_path,
            )
        except (EvidenceUnavailableError, CctraceError) as exc:
            logger.warning("no picture for tracklet %d: %s", tracklet_id, exc)
            self.missing += 1
            return None, gettext("No picture: {reason}").format(reason=exc)
        if ev.source == "snapshot":
            self.from_snapshots += 1
        return ev, ""


def _route_items(result: TraceResult, pics: _Pictures, clock: LocalClock) -> list[EvidenceItem]:
    cams = camera_index(result)
    items: list[EvidenceItem] = []
    for i, s in enumerate(result.route[:MAX_PICTURES], start=1):
        ev, note = pics.make(s.tracklet_id, s.snapshot_path)
        when = clock.full(ev.timestamp if ev is not None and ev.timestamp else s.start)
        items.append(
            EvidenceItem(
                title=f"{i}. {camera_name(cams, s.camera_id)}",
                caption=gettext("Case (tracklet #{id}) at {time}.").format(
                    id=s.tracklet_id, time=when
                ),
                evidence=ev,
                note=note,
            )
        )
    return items


def _contact_items(result: TraceResult, pics: _Pictures, clock: LocalClock) -> list[EvidenceItem]:
    cams = camera_index(result)
    items: list[EvidenceItem] = []
    for n, c in enumerate(result.contacts, start=1):
        if not c.is_close_contact:
            continue
        label = contact_label(n, c, cams, clock)
        for e in sorted(c.encounters, key=lambda e: e.start):
            if len(items) >= MAX_PICTURES:
                return items
            ev, note = pics.make(
                e.contact_tracklet_id,
                e.snapshot_path,
                at=e.min_distance_at,
                focus=(e.case_tracklet_id,),
            )
            items.append(
                EvidenceItem(
                    title=f"{label} - {camera_name(cams, e.camera_id)}",
                    caption=gettext(
                        "Closest approach, {distance} at {time}; {seconds} s within {m} m "
                        "(contact #{contact}, case #{case})."
                    ).format(
                        distance=metres(e.min_distance_m),
                        time=clock.full(e.min_distance_at),
                        seconds=f"{e.seconds_within:.0f}",
                        m=f"{result.query.distance_m:g}",
                        contact=e.contact_tracklet_id,
                        case=e.case_tracklet_id,
                    ),
                    evidence=ev,
                    note=note,
                )
            )
    return items


def export_case(
    site: SiteConfig,
    store: Store,
    case: CaseRecord,
    result: TraceResult,
    out_dir: str | os.PathLike[str],
    exported_by: str,
    *,
    detectors: ExtraDetectors | None = None,
    exported_at: datetime | None = None,
    lang: str | None = None,
) -> CaseExport:
    """Write ``<case>.pdf``, ``<case>-sightings.csv`` and ``<case>-contacts.csv``.

    Args:
        site: the site (its models find people and faces the tracker did not follow).
        store: the open store the trace ran on.
        case: the case record (legal basis, window, team for the header).
        result: the trace to export; its case id must be ``case.id``.
        out_dir: created if needed.
        exported_by: who exports (shown in the PDF).
        detectors: person/face detectors run on every evidence frame; default the
            site's own (``ModelSet(site.models)``). A model that cannot load raises
            (the export fails closed rather than risk an unblurred face).
        exported_at: the export time (default now). Times in the PDF and the CSVs'
            ``*_local`` columns are in the site's time zone (``site.zone()``).
        lang: the PDF's language (``en``/``ko``; default the current language of
            :mod:`cctrace.i18n`); the CSVs' ``person_label`` follows it, their columns
            and values stay as the schema names them.

    Raises:
        ValueError: the result belongs to another case.
    """
    if result.query.case_id != case.id:
        raise ValueError(f"the trace result is for case {result.query.case_id!r}, not {case.id!r}")
    with use_language(lang):
        return _export_case(site, store, case, result, out_dir, exported_by, detectors, exported_at)


def _export_case(
    site: SiteConfig,
    store: Store,
    case: CaseRecord,
    result: TraceResult,
    out_dir: str | os.PathLike[str],
    exported_by: str,
    detectors: ExtraDetectors | None,
    exported_at: datetime | None,
) -> CaseExport:
    if detectors is None:
        from cctrace.ingest.models import ModelSet

        detectors = ExtraDetectors.from_models(ModelSet(site.models))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = safe_stem(case.id)
    pics = _Pictures(store, allowed_people(result), detectors)
    tz = site.zone()
    clock = result_clock(result, tz)
    route_items = _route_items(result, pics, clock)
    contact_items = _contact_items(result, pics, clock)
    header = PdfHeader(
        case_id=case.id,
        legal_basis=case.legal_basis,
        team=case.team,
        exported_by=exported_by,
        exported_at=exported_at or datetime.now(UTC),
        window_from=case.window_from or result.query.window_from,
        window_to=case.window_to or result.query.window_to,
        status=str(case.status.value),
        parent_case_id=case.parent_case_id,
    )
    pdf = write_pdf(
        out / f"{stem}.pdf",
        result,
        header,
        route_items,
        contact_items,
        tz,
        site_plan=map_background(site),
    )
    export = CaseExport(
        pdf=pdf,
        sightings_csv=write_sightings_csv(result, out / f"{stem}-sightings.csv", tz),
        contacts_csv=write_contacts_csv(result, out / f"{stem}-contacts.csv", tz),
        route_sightings=len(result.route),
        close_contacts=sum(c.is_close_contact for c in result.contacts),
        pictures=sum(i.evidence is not None for i in (*route_items, *contact_items)),
        from_snapshots=pics.from_snapshots,
        missing_pictures=pics.missing,
    )
    logger.info(
        "exported case %s to %s (%d pictures, %d from snapshots, %d missing)",
        case.id,
        out,
        export.pictures,
        export.from_snapshots,
        export.missing_pictures,
    )
    return export
