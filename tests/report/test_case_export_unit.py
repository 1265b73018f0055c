"""Fast tests of the export's blur selection and PDF, on synthetic frames and traces."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pypdf
import pytest

from cctrace.report.case_export import allowed_people
from cctrace.report.evidence import Evidence, pick_point, snapshot_evidence
from cctrace.report.pdf import EvidenceItem, PdfHeader, render_pdf
from cctrace.report.selective_blur import apply_blur, plan_blur
from cctrace.tracing.result import TraceResult
from cctrace.types import TrackPoint

Box = tuple[float, float, float, float]


def _textured_frame(h: int = 240, w: int = 320) -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _region(img: np.ndarray, box: Box) -> np.ndarray:
    x1, y1, x2, y2 = (round(v) for v in box)
    return img[y1:y2, x1:x2].astype(np.int16)


def _head(box: Box) -> Box:
    """The middle of a person box's head (inside every blur/keep zone)."""
    w, h = box[2] - box[0], box[3] - box[1]
    return (box[0] + 0.2 * w, box[1] + 0.02 * h, box[2] - 0.2 * w, box[1] + 0.18 * h)


CASE: Box = (20, 20, 80, 200)
CONTACT: Box = (100, 20, 160, 200)
BYSTANDER: Box = (200, 20, 260, 200)


def test_only_allowed_heads_stay_sharp() -> None:
    frame = _textured_frame()
    plan = plan_blur({1: CASE, 2: CONTACT}, [BYSTANDER])
    out = apply_blur(frame, plan)
    assert np.array_equal(_region(out, _head(CASE)), _region(frame, _head(CASE)))
    assert np.array_equal(_region(out, _head(CONTACT)), _region(frame, _head(CONTACT)))
    diff = np.abs(_region(out, _head(BYSTANDER)) - _region(frame, _head(BYSTANDER)))
    assert diff.mean() > 40, "the bystander's head must be obliterated"
    # Only the head: the bystander's legs are untouched.
    legs = (BYSTANDER[0], 150.0, BYSTANDER[2], 200.0)
    assert np.array_equal(_region(out, legs), _region(frame, legs))
    assert not np.shares_memory(out, frame)


def test_whole_body_mode_blurs_the_whole_box() -> None:
    frame = _textured_frame()
    out = apply_blur(frame, plan_blur({1: CASE}, [BYSTANDER], whole_body=True))
    legs = (BYSTANDER[0] + 5, 150.0, BYSTANDER[2] - 5, 195.0)
    assert np.abs(_region(out, legs) - _region(frame, legs)).mean() > 40


@pytest.mark.parametrize(
    ("face", "kept"),
    [
        ((40, 24, 60, 44), True),  # the case's own face
        ((120, 24, 140, 44), False),  # a face in a bystander's head, detected only as a face
        ((290, 100, 310, 120), False),  # a face nobody's box explains (missed person)
        ((40, 150, 60, 170), False),  # a "face" at the case's knees: not their face
    ],
)
def test_detected_faces_are_blurred_unless_an_allowed_persons(face: Box, kept: bool) -> None:
    plan = plan_blur({1: CASE}, [CONTACT], faces=[face])
    assert (face in plan.kept_faces) is kept
    assert (face in plan.faces) is not kept


def test_untracked_detection_duplicating_an_allowed_box_is_not_blurred() -> None:
    duplicate = (22, 18, 82, 198)
    stranger = (200, 20, 260, 200)
    plan = plan_blur({1: CASE}, [], detected_people=[duplicate, stranger])
    assert len(plan.heads) == 1
    assert plan.heads[0][0] < stranger[0] + 1 and plan.heads[0][2] > stranger[2] - 1


def test_overlapping_bystander_head_stays_blurred_over_allowed_head() -> None:
    """Privacy first: a tracked bystander standing right behind the case is blurred,
    even where that covers part of the case."""
    behind = (30, 15, 90, 195)
    plan = plan_blur({1: CASE}, [behind])
    assert len(plan.heads) == 1


def test_pick_point_prefers_time_then_largest_middle_view() -> None:
    t = datetime(2024, 1, 1, tzinfo=UTC)
    pts = [
        TrackPoint(i, t.replace(second=i), (0, 0, 10, 10 + h), (0.0, 0.0), 1.0)
        for i, h in enumerate([100, 5, 30, 5, 5, 5, 5, 5, 5, 100])
    ]
    assert pick_point(pts).frame_index == 2  # the ends (first/last 10 %) are skipped
    assert pick_point(pts, at=t.replace(second=7)).frame_index == 7


def test_allowed_people_is_route_and_close_contacts(trace: TraceResult) -> None:
    allowed = allowed_people(trace)
    assert {s.tracklet_id for s in trace.route} <= set(allowed)
    for c in trace.contacts:
        for tid in c.contact_tracklet_ids:
            assert (tid in allowed) is (
                c.is_close_contact or tid in {s.tracklet_id for s in trace.route}
            )
    review = [s.tracklet_id for s in trace.sightings if s not in trace.route]
    assert not set(review) & set(allowed)


def test_pdf_text_and_snapshot_fallback(trace: TraceResult, snapshots: list[Path]) -> None:
    header = PdfHeader(
        case_id="CASE-7",
        legal_basis="IfSG s.25 (test)",
        team="north",
        exported_by="supervisor1",
        exported_at=datetime(2024, 5, 2, 8, 0, tzinfo=UTC),
        window_from=datetime(2024, 4, 28, tzinfo=UTC),
        window_to=datetime(2024, 5, 1, 23, 59, tzinfo=UTC),
    )
    snap = snapshot_evidence(
        trace.route[0].tracklet_id, "cam", str(snapshots[0]), "the footage file is gone"
    )
    drawn = Evidence(image=_textured_frame(), tracklet_id=5, camera_id="cam", source="footage")
    data = render_pdf(
        trace,
        header,
        [EvidenceItem("1. Entrance", "Case at 09:58", snap)],
        [EvidenceItem("Contact C1", "closest approach", drawn), EvidenceItem("C2", "x", None)],
    )
    reader = pypdf.PdfReader(io.BytesIO(data))
    text = "\n".join(p.extract_text() for p in reader.pages)
    for needle in ("CASE-7", "IfSG s.25 (test)", "north", "supervisor1", "CONFIDENTIAL"):
        assert needle in text
    assert "snapshot stored at ingest" in text
    assert f"Page 1 of {len(reader.pages)}" in text
    images = sum(len(p.images) for p in reader.pages)
    assert images == 2
