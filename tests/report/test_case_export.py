"""Case export on real footage: the demo site (PETS2009), pixels checked against the
original frames, the PDF read back with pypdf, the CSVs parsed."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np
import pypdf
import pytest

from cctrace.casework import load_latest_result
from cctrace.config import SiteConfig, load_site
from cctrace.demo import DEMO_CASE
from cctrace.ingest.models import ModelSet
from cctrace.report.case_export import CaseExport, allowed_people, export_case
from cctrace.report.evidence import (
    Evidence,
    ExtraDetectors,
    evidence_or_snapshot,
    people_at,
    render_evidence,
)
from cctrace.report.selective_blur import HEAD_FRACTION
from cctrace.store.repository import Store
from cctrace.tracing.result import TraceResult

pytestmark = pytest.mark.slow

Box = tuple[float, float, float, float]


@dataclass
class Demo:
    site: SiteConfig
    store: Store
    result: TraceResult
    detectors: ExtraDetectors
    export: CaseExport


@pytest.fixture(scope="module")
def demo(
    copy_demo: Callable[[Path], Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Demo]:
    """The session's demo (one ingest + trace, copied), and one export of its case."""
    work = tmp_path_factory.mktemp("export-demo")
    copy_demo(work / "site")
    site = load_site(work / "site" / "site.yaml")
    result = load_latest_result(site, DEMO_CASE)
    store = Store.for_site(site)
    detectors = ExtraDetectors.from_models(ModelSet(site.models))
    case = store.cases.get(DEMO_CASE)
    export = export_case(
        site, store, case, result, work / "export", "supervisor-x", detectors=detectors
    )
    yield Demo(site, store, result, detectors, export)
    store.close()


def _original_frame(path: str, index: int) -> np.ndarray:
    """Frame ``index`` decoded independently of cctrace (every frame, counted)."""
    with av.open(path) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == index:
                return np.asarray(frame.to_ndarray(format="bgr24"))
    raise AssertionError(f"{path} has no frame {index}")


def _as_shown(ev: Evidence, frame: np.ndarray) -> np.ndarray:
    """The original frame cropped and scaled exactly as the evidence picture."""
    assert ev.crop_xyxy is not None
    x0, y0, x1, y1 = ev.crop_xyxy
    crop = frame[y0:y1, x0:x1]
    if ev.scale == 1.0:
        return crop
    return cv2.resize(crop, None, fx=ev.scale, fy=ev.scale, interpolation=cv2.INTER_CUBIC)


def _in_picture(ev: Evidence, box: Box) -> tuple[int, int, int, int] | None:
    """``box`` (frame pixels) in picture pixels, or None unless wholly inside it."""
    assert ev.crop_xyxy is not None
    x0, y0 = ev.crop_xyxy[:2]
    p = [round((box[0] - x0) * ev.scale), round((box[1] - y0) * ev.scale)]
    p += [round((box[2] - x0) * ev.scale), round((box[3] - y0) * ev.scale)]
    h, w = ev.image.shape[:2]
    if p[0] < 0 or p[1] < 0 or p[2] > w or p[3] > h or p[2] - p[0] < 4 or p[3] - p[1] < 4:
        return None
    return p[0], p[1], p[2], p[3]


def _face_core(box: Box) -> Box:
    """The centre of a person's head region (inside the outline, where the face is)."""
    w, h = box[2] - box[0], box[3] - box[1]
    return (box[0] + 0.2 * w, box[1] + 0.03 * h, box[2] - 0.2 * w, box[1] + HEAD_FRACTION * h * 0.8)


def _overlaps(a: Box, b: Box, pad: float) -> bool:
    return not (
        a[2] + pad <= b[0] or b[2] + pad <= a[0] or a[3] + pad <= b[1] or b[3] + pad <= a[1]
    )


def _check_pixels(demo: Demo, ev: Evidence, allowed: set[int]) -> tuple[int, int]:
    """Allowed faces identical to the original, all others strongly changed.
    Returns (allowed faces checked, other faces checked)."""
    assert ev.source == "footage" and ev.plan is not None and ev.frame_index is not None
    footage = demo.store.footage.get(demo.store.tracklets.get(ev.tracklet_id).footage_id)
    original = _as_shown(ev, _original_frame(footage.path, ev.frame_index))
    shown = ev.image.astype(np.int16)
    assert original.shape == ev.image.shape
    point = next(
        p for p in demo.store.tracklets.points(ev.tracklet_id) if p.frame_index == ev.frame_index
    )
    boxes = people_at(demo.store, ev.camera_id, footage.id, point)
    kept = sharp = 0
    for tid, box in boxes.items():
        core = _in_picture(ev, _face_core(box))
        if core is None:
            continue
        x1, y1, x2, y2 = core
        diff = np.abs(shown[y1:y2, x1:x2] - original[y1:y2, x1:x2].astype(np.int16)).mean()
        if tid in allowed:
            # Skip an allowed face that a bystander's blurred head overlaps (privacy wins).
            if any(_overlaps(_face_core(box), r, 8.0) for r in ev.plan.regions):
                continue
            assert diff < 1.0, f"allowed tracklet {tid}: face changed (mean diff {diff:.1f})"
            kept += 1
        else:
            rough = cv2.Laplacian(original[y1:y2, x1:x2], cv2.CV_64F).std()
            after = cv2.Laplacian(ev.image[y1:y2, x1:x2], cv2.CV_64F).std()
            assert after < 0.35 * rough, (
                f"tracklet {tid}: face not blurred (detail {after:.1f} vs {rough:.1f})"
            )
            sharp += 1
    return kept, sharp


def test_route_picture_blurs_everyone_but_case_and_contacts(demo: Demo) -> None:
    allowed = allowed_people(demo.result)
    route = [s.tracklet_id for s in demo.result.route]
    assert route and any(label.startswith("Contact") for label in allowed.values())
    checked_allowed = checked_others = 0
    for tid in route:
        # Several moments of each route sighting: in a crowd a bystander's blurred head
        # may cover the case's face in any one frame (privacy wins), so one frame alone
        # may leave nothing to compare. The demo's ingest varies from run to run.
        points = demo.store.tracklets.points(tid)
        for point in points[:: max(1, len(points) // 8)]:
            ev = render_evidence(
                demo.store,
                tid,
                allowed,
                at=point.timestamp,
                case_ids=route,
                detectors=demo.detectors,
                outline=False,
            )
            kept, others = _check_pixels(demo, ev, set(allowed))
            checked_allowed += kept
            checked_others += others
    for c in demo.result.contacts:
        for e in c.encounters:
            ev = render_evidence(
                demo.store,
                e.contact_tracklet_id,
                allowed,
                at=e.min_distance_at,
                focus=[e.case_tracklet_id],
                detectors=demo.detectors,
                outline=False,
            )
            kept, others = _check_pixels(demo, ev, set(allowed))
            checked_allowed += kept
            checked_others += others
    assert checked_allowed >= 1, "no allowed face could be compared"
    assert checked_others >= 3, "too few bystanders in the pictures to test the blur"


def test_supervisor_unblurred_view_shows_one_more_person(demo: Demo) -> None:
    allowed = allowed_people(demo.result)
    others = sorted(
        (e for c in demo.result.contacts if not c.is_close_contact for e in c.encounters),
        key=lambda e: (-e.seconds_within, e.min_distance_m, e.camera_id, e.start),
    )
    assert others, "the demo trace should have a contact below the thresholds"
    route = [s.tracklet_id for s in demo.result.route]
    kept = 0
    # The approved person at several moments of each encounter below the thresholds:
    # in any one frame their face may be covered by a bystander's blurred head (privacy
    # wins) or cut by the picture's edge, which leaves nothing to compare.
    for encounter in others:
        target = encounter.contact_tracklet_id
        approved = {t: "Case" for t in route} | {target: "Approved"}
        points = demo.store.tracklets.points(target)
        moments = [encounter.min_distance_at] + [
            p.timestamp for p in points[:: max(1, len(points) // 6)]
        ]
        for at in moments:
            ev = render_evidence(
                demo.store, target, approved, at=at, detectors=demo.detectors, outline=False
            )
            assert target in ev.shown
            blurred = render_evidence(
                demo.store, target, allowed, at=at, detectors=demo.detectors, outline=False
            )
            assert target not in blurred.shown
            target_kept, _ = _check_pixels(demo, ev, set(approved))
            _check_pixels(demo, blurred, set(allowed))
            kept += target_kept
    assert kept >= 1, "no approved face could be compared with the original footage"


def test_pdf_names_the_case_basis_and_contacts(demo: Demo) -> None:
    export = demo.export
    assert export.pdf.is_file() and export.pdf.name == f"{DEMO_CASE}.pdf"
    reader = pypdf.PdfReader(str(export.pdf))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert DEMO_CASE in text
    assert "demo (public research footage)" in text
    assert "supervisor-x" in text and "CONFIDENTIAL" in text
    for n, c in enumerate(demo.result.contacts, start=1):
        # "Person 3 (camera, time)" with its tracklet id in a small line below it.
        assert f"Person {n} (" in text
        for e in c.encounters:
            assert f"tracklet {e.contact_tracklet_id}" in text
    close = sum(len(c.encounters) for c in demo.result.contacts if c.is_close_contact)
    assert export.pictures == len(demo.result.route) + close
    assert export.from_snapshots == 0 and export.missing_pictures == 0
    site_plan = 1 if demo.site.site_plan is not None else 0  # the demo's plaza from above
    assert sum(len(page.images) for page in reader.pages) == export.pictures + site_plan
    assert f"Page 1 of {len(reader.pages)}" in text


def test_csvs_have_one_row_per_sighting_and_encounter(demo: Demo) -> None:
    with demo.export.sightings_csv.open(newline="") as fh:
        sightings = list(csv.DictReader(fh))
    assert len(sightings) == len(demo.result.sightings)
    assert {int(r["tracklet_id"]) for r in sightings} == {
        s.tracklet_id for s in demo.result.sightings
    }
    with demo.export.contacts_csv.open(newline="") as fh:
        contacts = list(csv.DictReader(fh))
    assert len(contacts) == sum(len(c.encounters) for c in demo.result.contacts)
    close = {t for c in demo.result.contacts if c.is_close_contact for t in c.contact_tracklet_ids}
    assert {int(r["contact_tracklet_id"]) for r in contacts if r["is_close_contact"] == "true"} == (
        close
    )


def test_missing_footage_falls_back_to_the_stored_snapshot(demo: Demo) -> None:
    tid = demo.result.route[0].tracklet_id
    footage = demo.store.footage.get(demo.store.tracklets.get(tid).footage_id)
    path = Path(footage.path)
    hidden = path.with_name(path.name + ".away")
    path.rename(hidden)
    try:
        ev = evidence_or_snapshot(demo.store, tid, allowed_people(demo.result))
    finally:
        hidden.rename(path)
    assert ev.source == "snapshot" and "no longer available" in ev.note
    image = cv2.imdecode(np.frombuffer(ev.jpeg(), np.uint8), cv2.IMREAD_COLOR)
    assert image is not None and image.shape == ev.image.shape
    assert io.BytesIO(ev.jpeg()).getbuffer().nbytes > 1000
