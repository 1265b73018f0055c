"""Pick a person in a camera frame: the frame nearest an instant, everyone blurred and
numbered, so an investigator can start a trace from the person they recognise by place,
clothes and time rather than by face."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import cv2

from cctrace.errors import NotFoundError
from cctrace.report.evidence import ExtraDetectors
from cctrace.report.frames import decode_frame
from cctrace.report.selective_blur import apply_blur, plan_blur
from cctrace.store.records import FootageRecord
from cctrace.store.repository import Store

SEARCH_S = 2.0
"""How far from the asked instant an analysed frame may be."""


@dataclass(frozen=True)
class PickFrame:
    """An analysed frame and the tracked people in it."""

    footage: FootageRecord
    frame_index: int
    timestamp: datetime
    people: dict[int, tuple[float, float, float, float]]


def _footage_at(store: Store, camera_id: str, at: datetime) -> FootageRecord:
    store.get_camera(camera_id)  # NotFoundError names an unknown camera
    for f in store.list_footage(camera_id):
        if f.start_time <= at <= f.start_time + timedelta(seconds=f.duration_s):
            return f
    raise NotFoundError(f"camera {camera_id} has no ingested footage at {at.isoformat()}")


def frame_at(store: Store, camera_id: str, at: datetime) -> PickFrame:
    """The analysed frame of ``camera_id`` nearest ``at`` that has tracked people."""
    footage = _footage_at(store, camera_id, at)
    pad = timedelta(seconds=SEARCH_S)
    nearby = [
        t
        for t in store.tracklets_in_window(at - pad, at + pad, camera_ids=[camera_id])
        if t.footage_id == footage.id
    ]
    frames: dict[int, tuple[datetime, dict[int, tuple[float, float, float, float]]]] = {}
    for tid, points in store.points_for_tracklets([t.id for t in nearby]).items():
        for p in points:
            if abs((p.timestamp - at).total_seconds()) <= SEARCH_S:
                entry = frames.setdefault(p.frame_index, (p.timestamp, {}))
                entry[1][tid] = tuple(float(v) for v in p.xyxy)  # type: ignore[assignment]
    if not frames:
        raise NotFoundError(
            f"nobody was tracked by camera {camera_id} within {SEARCH_S:g} s of "
            f"{at.isoformat()}; try another time"
        )
    index = min(frames, key=lambda i: abs((frames[i][0] - at).total_seconds()))
    timestamp, people = frames[index]
    return PickFrame(footage, index, timestamp, people)


def render_pick_frame(pick: PickFrame, detectors: ExtraDetectors | None) -> bytes:
    """JPEG of the frame with every head blurred and each tracked person numbered."""
    image = decode_frame(pick.footage, pick.frame_index)
    found_people, faces = [], []
    if detectors is not None:
        if detectors.person is not None:
            found_people = [tuple(float(v) for v in b) for b in detectors.person.detect(image).xyxy]
        if detectors.face is not None:
            faces = [tuple(float(v) for v in f.xyxy) for f in detectors.face.detect(image)]
    plan = plan_blur(
        {},
        list(pick.people.values()),
        detected_people=found_people,  # type: ignore[arg-type]
        faces=faces,  # type: ignore[arg-type]
    )
    out = apply_blur(image, plan)
    for tid, (x1, y1, x2, y2) in pick.people.items():
        cv2.rectangle(out, (int(x1), int(y1)), (int(x2), int(y2)), (0, 200, 255), 2)
        label = str(tid)
        (w, h), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
        y = int(y2) + h + 4
        cv2.rectangle(out, (int(x1), y - h - 4), (int(x1) + w + 4, y + 2), (0, 200, 255), -1)
        cv2.putText(out, label, (int(x1) + 2, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
    ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:  # pragma: no cover - encoding a valid frame does not fail
        raise NotFoundError("could not encode the frame")
    return bytes(buf.tobytes())
