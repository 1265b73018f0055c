"""Blur every face in a frame except those of the allowed people (pure image logic).

Exports and the supervisor-approved "un-blurred view" show the case and the
confirmed contacts; everyone else's face is made unrecognisable (DESIGN.md,
"Privacy by design"). :func:`plan_blur` decides *what* to blur, from

* the allowed people's person boxes (the case's route tracklets and the
  confirmed contacts at that frame),
* every other person box known at that frame (other stored tracklets, and
  people a detector found that no tracklet covers), and
* faces a face detector found anywhere in the frame (people the person
  detector and the tracker missed),

and :func:`apply_blur` does it with :func:`cctrace.privacy.redaction.blur_boxes`.

Rules, privacy first:

* every other person's head region (top :data:`HEAD_FRACTION` of the box,
  widened) is blurred, or the whole box with ``whole_body=True``;
* an *untracked* detection overlapping an allowed person's box with IoU >=
  :data:`SAME_PERSON_IOU` is taken to be that allowed person (a duplicate box);
  two *tracked* people are never merged: the tracker said they are two people;
* a detected face is kept only when it lies in an allowed person's head zone
  (top :data:`ALLOWED_HEAD_ZONE` of the box) and covers that zone more than any
  other person's head region; a face nobody's box explains is blurred;
* where a bystander's blurred head overlaps an allowed person's head, the
  overlap stays blurred (nothing is restored afterwards).

Boxes are ``(x1, y1, x2, y2)`` image pixels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from cctrace.boxes import box_iou
from cctrace.privacy.redaction import blur_boxes, head_region
from cctrace.types import Image

Box = tuple[float, float, float, float]

HEAD_FRACTION = 0.25
"""Share of a bystander's box height, from its top, blurred as the head (a little more
than the stored snapshots' 0.22: exports leave the building)."""
ALLOWED_HEAD_ZONE = 0.35
"""Share of an allowed person's box height, from its top, where their own face may be."""
SAME_PERSON_IOU = 0.5
"""An untracked detection with at least this IoU with an allowed box is that person."""
FACE_INSIDE = 0.6
"""A face counts as inside a zone when this share of its area lies in it."""


@dataclass(frozen=True)
class BlurPlan:
    """What :func:`apply_blur` will blur, and why (for tests and audit notes)."""

    heads: tuple[Box, ...]
    """Head regions (or whole boxes) of people who are not allowed."""
    faces: tuple[Box, ...]
    """Detected faces that are not an allowed person's."""
    kept_faces: tuple[Box, ...]
    """Detected faces left sharp (an allowed person's)."""

    @property
    def regions(self) -> tuple[Box, ...]:
        """Every region to blur."""
        return self.heads + self.faces


def _area(b: Box) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def _inside(face: Box, zone: Box) -> float:
    """Share of ``face``'s area that lies in ``zone``."""
    w = min(face[2], zone[2]) - max(face[0], zone[0])
    h = min(face[3], zone[3]) - max(face[1], zone[1])
    area = _area(face)
    return 0.0 if area <= 0 else max(0.0, w) * max(0.0, h) / area


def _valid(b: Box) -> bool:
    return bool(np.all(np.isfinite(b))) and b[2] > b[0] and b[3] > b[1]


def _head(b: Box, whole_body: bool) -> Box:
    return b if whole_body else head_region(b, HEAD_FRACTION)


def _allowed_zone(b: Box) -> Box:
    h = b[3] - b[1]
    return (b[0], b[1] - 0.05 * h, b[2], b[1] + ALLOWED_HEAD_ZONE * h)


def plan_blur(
    allowed: Mapping[int, Box],
    others: Sequence[Box],
    *,
    detected_people: Sequence[Box] = (),
    faces: Sequence[Box] = (),
    whole_body: bool = False,
) -> BlurPlan:
    """Decide which regions to blur so only the ``allowed`` people can be recognised.

    Args:
        allowed: person boxes of the allowed people at this frame, by tracklet id.
        others: person boxes of every other *tracked* person at this frame.
        detected_people: person boxes from a detector run on this frame (may repeat
            tracked boxes); those not matching an allowed box (IoU <
            :data:`SAME_PERSON_IOU`) are blurred like ``others``.
        faces: face boxes from a face detector run on this frame.
        whole_body: blur other people's whole boxes, not only their heads.
    """
    allowed_boxes = [b for b in allowed.values() if _valid(b)]
    bystanders = [b for b in others if _valid(b)]
    for det in detected_people:
        if not _valid(det):
            continue
        if any(box_iou(np.asarray(det), np.asarray(a)) >= SAME_PERSON_IOU for a in allowed_boxes):
            continue
        bystanders.append(det)
    heads = tuple(_head(b, whole_body) for b in bystanders)
    # Where a face may be: allowed heads (True) and every bystander's head (False).
    zones = [(_allowed_zone(b), True) for b in allowed_boxes]
    zones += [(head_region(b, HEAD_FRACTION), False) for b in bystanders]
    blurred: list[Box] = []
    kept: list[Box] = []
    for face in faces:
        if not _valid(face):
            continue
        best_allowed = max((_inside(face, z) for z, ok in zones if ok), default=0.0)
        best_other = max((_inside(face, z) for z, ok in zones if not ok), default=0.0)
        if best_allowed >= FACE_INSIDE and best_allowed > best_other:
            kept.append(face)
        else:
            blurred.append(face)
    return BlurPlan(heads=heads, faces=tuple(blurred), kept_faces=tuple(kept))


def apply_blur(image: Image, plan: BlurPlan) -> Image:
    """A copy of ``image`` with every region of ``plan`` made unrecognisable."""
    regions = plan.regions
    if not regions:
        return image.copy()
    return blur_boxes(image, np.asarray(regions, dtype=np.float64))
