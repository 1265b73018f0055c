"""Pick a person in a camera frame: the frame nearest an instant, everyone blurred and
numbered, so an investigator can start a trace from the person they recognise by place,
clothes and time rather than by face."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import cv2
import numpy as np

from cctrace.errors import NotFoundError
from cctrace.report.evidence import ExtraDetectors
from cctrace.report.frames import decode_frame
from cctrace.report.selective_blur import apply_blur, plan_blur
from cctrace.store.records import FootageRecord
from cctrace.store.repository import Store

SEARCH_S = 2.0
"""How far from the asked instant an analysed frame may be."""
LABEL_FONT = cv2.FONT_HERSHEY_SIMPLEX
LABEL_SCALE = 0.5
LABEL_PAD = 3
"""Pixels around a label's number."""
TAG_OVERLAP_COST = 1000.0
"""A tag over another number costs this much more than over another person's box (a
hidden number is worse than a number on a neighbour's outline)."""
PALETTE = (
    (0, 200, 255),
    (255, 160, 0),
    (80, 220, 80),
    (200, 90, 255),
    (60, 60, 255),
    (255, 255, 90),
)
"""BGR outline colours, one per person in turn: a number shares its person's colour."""

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class PickLabel:
    """A numbered person: the tracklet, the box drawn for it and where its number is.

    The number is always drawn inside the person's own box, where no other person's
    box (and no other number) lies when such a spot exists, so a number can only be
    read as the person whose outline surrounds it.
    """

    tracklet_id: int
    box: Box
    label_xyxy: Box
    """The number's tag, frame pixels."""
    clear: bool
    """True when the tag touches no other person's box."""


@dataclass(frozen=True)
class PickFrame:
    """An analysed frame and the tracked people in it."""

    footage: FootageRecord
    frame_index: int
    timestamp: datetime
    people: dict[int, tuple[float, float, float, float]]

    def labels(self) -> list[PickLabel]:
        """Where each person's number goes (see :func:`place_labels`)."""
        return place_labels(self.people)


def _label_size(text: str) -> tuple[int, int]:
    (w, h), base = cv2.getTextSize(text, LABEL_FONT, LABEL_SCALE, 1)
    return w + 2 * LABEL_PAD, h + base + 2 * LABEL_PAD


def _overlap(a: Box, b: Box) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return max(0.0, w) * max(0.0, h)


def place_labels(people: Mapping[int, Box]) -> list[PickLabel]:
    """A tag for each person's number, inside their own box, clear of everyone else.

    Candidate spots scan the person's box from its feet upwards (a tag should not hide
    a face); the first that overlaps no other person's box and no tag placed
    before wins; otherwise the spot inside the box overlapping others least. Smaller
    boxes (people further away or partly hidden) are placed first, as they have the
    least room.
    """
    order = sorted(
        people, key=lambda t: (people[t][2] - people[t][0]) * (people[t][3] - people[t][1])
    )
    placed: list[Box] = []
    out: dict[int, PickLabel] = {}
    for tid in order:
        x1, y1, x2, y2 = people[tid]
        tw, th = _label_size(str(tid))
        others = [b for t, b in people.items() if t != tid]
        w, h = x2 - x1, y2 - y1
        if w >= tw:
            xs = np.linspace(x1, x2 - tw, num=max(2, min(8, int(w // max(tw, 1)) + 1)))
        else:  # a narrow box: the tag centred on it, its centre inside the box
            xs = np.array([(x1 + x2 - tw) / 2])
        ys = np.linspace(y2 - th, y1, num=16) if h >= th else np.array([(y1 + y2 - th) / 2])
        best: tuple[float, Box] = (float("inf"), (x1, y1, x1 + tw, y1 + th))
        for y in ys:
            for x in xs:
                tag = (float(x), float(y), float(x) + tw, float(y) + th)
                cost = sum(_overlap(tag, b) for b in others) + TAG_OVERLAP_COST * sum(
                    _overlap(tag, b) for b in placed
                )
                if cost < best[0]:
                    best = (cost, tag)
                if cost == 0:
                    break
            if best[0] == 0:
                break
        tag = (max(0.0, best[1][0]), max(0.0, best[1][1]), best[1][2], best[1][3])
        placed.append(tag)
        out[tid] = PickLabel(tid, people[tid], tag, best[0] == 0)
    return [out[t] for t in sorted(out)]


def _footage_at(store: Store, camera_id: str, at: datetime) -> FootageRecord:
    store.cameras.get(camera_id)  # NotFoundError names an unknown camera
    for f in store.footage.files(camera_id):
        if f.start_time <= at <= f.start_time + timedelta(seconds=f.duration_s):
            return f
    raise NotFoundError(f"camera {camera_id} has no ingested footage at {at.isoformat()}")


def frame_at(store: Store, camera_id: str, at: datetime) -> PickFrame:
    """The analysed frame of ``camera_id`` nearest ``at`` that has tracked people."""
    footage = _footage_at(store, camera_id, at)
    pad = timedelta(seconds=SEARCH_S)
    nearby = [
        t
        for t in store.tracklets.in_window(at - pad, at + pad, camera_ids=[camera_id])
        if t.footage_id == footage.id
    ]
    frames: dict[int, tuple[datetime, dict[int, tuple[float, float, float, float]]]] = {}
    for tid, points in store.tracklets.points_of([t.id for t in nearby]).items():
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


def draw_labels(image: np.ndarray, labels: list[PickLabel]) -> np.ndarray:
    """``image`` with each person outlined and numbered in their own colour (in place)."""
    for i, lab in enumerate(labels):
        colour = PALETTE[i % len(PALETTE)]
        x1, y1, x2, y2 = (round(v) for v in lab.box)
        cv2.rectangle(image, (x1, y1), (x2, y2), colour, 2)
    for i, lab in enumerate(labels):
        colour = PALETTE[i % len(PALETTE)]
        tx1, ty1, tx2, ty2 = (round(v) for v in lab.label_xyxy)
        cv2.rectangle(image, (tx1, ty1), (tx2, ty2), colour, -1)
        cv2.rectangle(image, (tx1, ty1), (tx2, ty2), (0, 0, 0), 1)
        _, base = cv2.getTextSize(str(lab.tracklet_id), LABEL_FONT, LABEL_SCALE, 1)
        cv2.putText(
            image,
            str(lab.tracklet_id),
            (tx1 + LABEL_PAD, ty2 - base - LABEL_PAD + 1),
            LABEL_FONT,
            LABEL_SCALE,
            (0, 0, 0),
            1,
        )
    return image


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
    out = draw_labels(apply_blur(image, plan), pick.labels())
    ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:  # pragma: no cover - encoding a valid frame does not fail
        raise NotFoundError("could not encode the frame")
    return bytes(buf.tobytes())
