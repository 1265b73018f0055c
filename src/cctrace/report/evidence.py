"""Evidence images from the original footage: only the allowed people recognisable.

:func:`render_evidence` decodes the frame a tracklet was seen in, blurs the face of
everyone who is not allowed (see :mod:`cctrace.report.selective_blur` for the rules),
outlines and labels the allowed people, and crops around the people in focus. The
case export calls it with the case's route tracklets and confirmed contacts allowed;
the web app's supervisor-approved "un-blurred view" calls it with the case's
tracklets plus the one approved tracklet.

People in the frame come from every stored tracklet of that footage file with a
point at that frame, plus, when :class:`ExtraDetectors` are given, a person and a
face detector run on the frame itself, so people the tracker never confirmed and
faces the person detector missed are blurred too.

:func:`evidence_or_snapshot` falls back to the tracklet's stored snapshot (already
redacted at ingest) when the footage file is gone.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from cctrace.errors import CctraceError
from cctrace.i18n import N_, gettext
from cctrace.report.frames import FrameSource, FrameUnavailableError
from cctrace.report.selective_blur import BlurPlan, Box, apply_blur, plan_blur
from cctrace.store.repository import Store
from cctrace.types import Image, TrackPoint
from cctrace.vision.base import FaceDetector, PersonDetector

if TYPE_CHECKING:
    from cctrace.ingest.models import ModelSet

logger = logging.getLogger(__name__)

CONTEXT_MARGIN = 0.6
"""Context around the people in focus, as a share of their joint box on each side."""
MIN_CROP_PX = 200
MIN_OUTPUT_PX = 360
"""Small crops are upscaled so their shorter side is at least this (labels stay legible)."""
MAX_UPSCALE = 3.0
JPEG_QUALITY = 85
CASE_COLOUR = (40, 40, 220)
"""BGR outline of the case."""
OTHER_COLOUR = (0, 150, 255)
"""BGR outline of other allowed people (contacts, an approved tracklet)."""


class EvidenceUnavailableError(CctraceError):
    """No evidence image can be made (no footage, no point, no snapshot)."""


@dataclass(frozen=True)
class ExtraDetectors:
    """Detectors run on the evidence frame itself, to blur people nobody tracked."""

    person: PersonDetector | None = None
    face: FaceDetector | None = None

    @classmethod
    def from_models(cls, models: ModelSet) -> ExtraDetectors:
        """The site's own person and face detectors (loaded on first use)."""
        return cls(person=models.person_detector, face=models.face_detector)


@dataclass(frozen=True)
class Evidence:
    """One evidence picture and where it comes from."""

    image: Image
    """BGR, redacted, allowed people outlined."""
    tracklet_id: int
    camera_id: str
    source: str
    """``"footage"`` (decoded and redacted now) or ``"snapshot"`` (stored at ingest)."""
    timestamp: datetime | None = None
    footage_id: int | None = None
    frame_index: int | None = None
    crop_xyxy: tuple[int, int, int, int] | None = None
    """The crop in frame pixels (footage only)."""
    scale: float = 1.0
    """Frame pixels -> image pixels (after the crop)."""
    plan: BlurPlan | None = None
    note: str = ""
    shown: tuple[int, ...] = field(default=())
    """Allowed tracklets outlined in the picture."""

    def jpeg(self, quality: int = JPEG_QUALITY) -> bytes:
        """The picture as JPEG bytes."""
        ok, buf = cv2.imencode(".jpg", self.image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise EvidenceUnavailableError(f"could not encode a {self.image.shape} image")
        return bytes(buf.tobytes())


def pick_point(points: Sequence[TrackPoint], at: datetime | None = None) -> TrackPoint:
    """The point nearest ``at``; without ``at``, the tallest box in the middle 80 % of
    the track (the person at their largest, away from where the track starts or ends)."""
    if not points:
        raise EvidenceUnavailableError("the tracklet has no points")
    if at is not None:
        return min(points, key=lambda p: abs((p.timestamp - at).total_seconds()))
    n = len(points)
    middle = points[n // 10 : n - n // 10] or points
    return max(middle, key=lambda p: p.xyxy[3] - p.xyxy[1])


def people_at(store: Store, camera_id: str, footage_id: int, point: TrackPoint) -> dict[int, Box]:
    """Every stored tracklet's box at ``point``'s frame of that footage file, by id."""
    nearby = store.tracklets.in_window(point.timestamp, point.timestamp, camera_ids=[camera_id])
    ids = [t.id for t in nearby if t.footage_id == footage_id]
    out: dict[int, Box] = {}
    for tid, pts in store.tracklets.points_of(ids).items():
        for p in pts:
            if p.frame_index == point.frame_index:
                out[tid] = tuple(float(v) for v in p.xyxy)  # type: ignore[assignment]
                break
    return out


def _detect(image: Image, detectors: ExtraDetectors | None) -> tuple[list[Box], list[Box]]:
    if detectors is None:
        return [], []
    people: list[Box] = []
    faces: list[Box] = []
    if detectors.person is not None:
        dets = detectors.person.detect(image)
        people = [tuple(float(v) for v in b) for b in np.asarray(dets.xyxy)]  # type: ignore[misc]
    if detectors.face is not None:
        faces = [f.xyxy for f in detectors.face.detect(image)]
    return people, faces


def _span(lo: float, hi: float, min_size: int, limit: int) -> tuple[int, int]:
    """An integer span covering [lo, hi], at least ``min_size`` long where ``limit``
    allows, shifted (not shrunk) to stay inside [0, limit]."""
    size = min(limit, max(math.ceil(hi - lo), min_size))
    start = min(max(round((lo + hi) / 2 - size / 2), 0), limit - size)
    return start, start + size


def crop_window(width: int, height: int, box: Box) -> tuple[int, int, int, int]:
    """The crop (frame pixels) around ``box``, with :data:`CONTEXT_MARGIN` context."""
    bw, bh = box[2] - box[0], box[3] - box[1]
    x0, x1 = _span(box[0] - CONTEXT_MARGIN * bw, box[2] + CONTEXT_MARGIN * bw, MIN_CROP_PX, width)
    y0, y1 = _span(box[1] - CONTEXT_MARGIN * bh, box[3] + CONTEXT_MARGIN * bh, MIN_CROP_PX, height)
    return x0, y0, x1, y1


def _union(boxes: Sequence[Box]) -> Box:
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def _draw(image: Image, box: Box, label: str, colour: tuple[int, int, int]) -> None:
    h, w = image.shape[:2]
    x1, y1 = max(0, round(box[0]) - 3), max(0, round(box[1]) - 3)
    x2, y2 = min(w - 1, round(box[2]) + 3), min(h - 1, round(box[3]) + 3)
    cv2.rectangle(image, (x1, y1), (x2, y2), colour, 2, cv2.LINE_AA)
    if not label:
        return
    font, size = cv2.FONT_HERSHEY_SIMPLEX, 0.45
    (tw, th), base = cv2.getTextSize(label, font, size, 1)
    # Below the feet, not above the head: a label must not hide anyone's face.
    ty = y2 + th + 4 if y2 + th + base + 4 < h else y2 - base - 2
    cv2.rectangle(image, (x1, ty - th - 2), (x1 + tw + 4, ty + base), colour, -1)
    cv2.putText(image, label, (x1 + 2, ty), font, size, (255, 255, 255), 1, cv2.LINE_AA)


def render_evidence(
    store: Store,
    tracklet_id: int,
    allowed: Mapping[int, str],
    *,
    at: datetime | None = None,
    focus: Collection[int] = (),
    case_ids: Collection[int] = (),
    detectors: ExtraDetectors | None = None,
    frames: FrameSource | None = None,
    whole_body: bool = False,
    outline: bool = True,
    subject_faces: Sequence[Box] | None = None,
) -> Evidence:
    """An evidence picture of ``tracklet_id`` from the original footage.

    Args:
        store: the open store (tracklets, points, footage paths).
        tracklet_id: whose frame to show.
        allowed: the people who stay recognisable, tracklet id -> label drawn by
            their outline (``""`` for no label). Everyone else's face is blurred.
        at: show the frame nearest this instant (e.g. a contact's
            ``min_distance_at``); default: the tracklet's largest view.
        focus: other tracklets the crop must also hold (e.g. the case beside a
            contact), when they are in that frame.
        case_ids: allowed tracklets outlined in the case colour.
        detectors: run these on the frame too (recommended: see the module doc).
        frames: a shared frame cache.
        whole_body: blur other people's whole boxes, not only their heads.
        outline: outline and label the allowed people (False: the redacted pixels only).
        subject_faces: the face box(es) in this frame that matched the query, when
            known: exactly those faces stay sharp (see :func:`plan_blur`).

    Raises:
        EvidenceUnavailableError: the tracklet is unknown or has no points.
        FrameUnavailableError: the footage file or frame cannot be decoded.
    """
    try:
        record = store.tracklets.get(tracklet_id)
        points = store.tracklets.points(tracklet_id)
    except CctraceError as exc:
        raise EvidenceUnavailableError(f"tracklet {tracklet_id}: {exc}") from exc
    point = pick_point(points, at)
    try:
        footage = store.footage.get(record.footage_id)
    except CctraceError as exc:
        raise FrameUnavailableError(f"footage {record.footage_id}: {exc}") from exc
    frame = (frames or FrameSource(1)).frame(footage, point.frame_index)
    boxes = people_at(store, record.camera_id, record.footage_id, point)
    boxes[tracklet_id] = tuple(float(v) for v in point.xyxy)  # type: ignore[assignment]
    allowed_boxes = {t: b for t, b in boxes.items() if t in allowed}
    others = [b for t, b in boxes.items() if t not in allowed]
    people, faces = _detect(frame, detectors)
    plan = plan_blur(
        allowed_boxes,
        others,
        detected_people=people,
        faces=faces,
        whole_body=whole_body,
        subject_faces=subject_faces,
    )
    redacted = apply_blur(frame, plan)

    wanted = [tracklet_id, *(t for t in focus if t in boxes and t != tracklet_id)]
    x0, y0, x1, y1 = crop_window(
        redacted.shape[1], redacted.shape[0], _union([boxes[t] for t in wanted])
    )
    crop = redacted[y0:y1, x0:x1]
    short = min(crop.shape[:2])
    scale = min(MAX_UPSCALE, max(1.0, MIN_OUTPUT_PX / short))
    image: Image = np.ascontiguousarray(
        cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        if scale > 1.0
        else crop,
        dtype=np.uint8,
    ).copy()
    shown: list[int] = []
    for tid, box in allowed_boxes.items():
        mapped = (
            (box[0] - x0) * scale,
            (box[1] - y0) * scale,
            (box[2] - x0) * scale,
            (box[3] - y0) * scale,
        )
        if mapped[2] <= 0 or mapped[3] <= 0 or mapped[0] >= image.shape[1]:
            continue
        if mapped[1] >= image.shape[0]:
            continue
        if outline:
            colour = CASE_COLOUR if tid in case_ids else OTHER_COLOUR
            _draw(image, mapped, allowed[tid], colour)
        shown.append(tid)
    return Evidence(
        image=image,
        tracklet_id=tracklet_id,
        camera_id=record.camera_id,
        source="footage",
        timestamp=point.timestamp,
        footage_id=record.footage_id,
        frame_index=point.frame_index,
        crop_xyxy=(x0, y0, x1, y1),
        scale=scale,
        plan=plan,
        shown=tuple(shown),
    )


SnapshotReader = Callable[[str], bytes]
"""Reads a stored snapshot's bytes (default: the file; the store may encrypt them)."""


def _read_file(path: str) -> bytes:
    return Path(path).read_bytes()


def snapshot_evidence(
    tracklet_id: int,
    camera_id: str,
    snapshot_path: str | None,
    reason: str,
    read: SnapshotReader = _read_file,
) -> Evidence:
    """The stored (ingest-redacted) snapshot as evidence, noting why it stands in."""
    if not snapshot_path:
        raise EvidenceUnavailableError(f"tracklet {tracklet_id}: {reason}; no stored snapshot")
    try:
        data = np.frombuffer(read(snapshot_path), np.uint8)
    except OSError as exc:
        raise EvidenceUnavailableError(f"tracklet {tracklet_id}: {reason}; {exc}") from exc
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None:
        raise EvidenceUnavailableError(f"snapshot {snapshot_path} is not a readable image")
    note = gettext(
        "{reason}; showing the snapshot stored at ingest (every other person blurred)"
    ).format(reason=gettext(reason))
    return Evidence(
        image=np.asarray(image, np.uint8),
        tracklet_id=tracklet_id,
        camera_id=camera_id,
        source="snapshot",
        note=note,
    )


def evidence_or_snapshot(
    store: Store,
    tracklet_id: int,
    allowed: Mapping[int, str],
    *,
    at: datetime | None = None,
    focus: Collection[int] = (),
    case_ids: Collection[int] = (),
    detectors: ExtraDetectors | None = None,
    frames: FrameSource | None = None,
    whole_body: bool = False,
    snapshot_path: str | None = None,
    read_snapshot: SnapshotReader = _read_file,
) -> Evidence:
    """:func:`render_evidence`, or the stored snapshot when the footage cannot be read.

    ``snapshot_path`` defaults to the tracklet's own stored snapshot; ``read_snapshot``
    reads it; the other arguments are :func:`render_evidence`'s.

    Raises:
        EvidenceUnavailableError: neither the footage nor a snapshot is available.
    """
    try:
        return render_evidence(
            store,
            tracklet_id,
            allowed,
            at=at,
            focus=focus,
            case_ids=case_ids,
            detectors=detectors,
            frames=frames,
            whole_body=whole_body,
        )
    except FrameUnavailableError as exc:
        logger.warning(
            "tracklet %d: footage unavailable (%s); using its snapshot", tracklet_id, exc
        )
        record = store.tracklets.get(tracklet_id)
        return snapshot_evidence(
            tracklet_id,
            record.camera_id,
            snapshot_path or record.snapshot_path,
            N_("the footage file is no longer available"),
            read_snapshot,
        )
