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
* a detected face is kept only when it is POSITIVELY an allowed person's: the face
  that matched the query (``subject_faces``), or a face inside exactly one allowed
  person's head region with a margin and in no bystander's head region, alone in
  that head (:func:`cctrace.ingest.face_assignment.assign_faces`); an ambiguous
  face, or one nobody's box explains (a whole-frame face search), is blurred;
* where a bystander's blurred head region overlaps an allowed person's head, the
  overlap stays blurred, except the allowed person's own face when it is positively
  theirs (kept): its pixels show that person, and are restored (never where they
  touch another, blurred face).

Boxes are ``(x1, y1, x2, y2)`` image pixels.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from cctrace.boxes import box_iou
from cctrace.ingest.face_assignment import assign_faces
from cctrace.privacy.redaction import DEFAULT_EXPAND, blur_boxes, head_region
from cctrace.types import Faces, Image

Box = tuple[float, float, float, float]

HEAD_FRACTION = 0.25
"""Share of a bystander's box height, from its top, blurred as the head (a little more
than the stored snapshots' 0.22: exports leave the building)."""
SAME_PERSON_IOU = 0.5
"""An untracked detection with at least this IoU with an allowed box is that person."""
SAME_FACE_IOU = 0.5
"""A detected face overlapping a query-matched face this much is that face."""


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


def _valid(b: Box) -> bool:
    return bool(np.all(np.isfinite(b))) and b[2] > b[0] and b[3] > b[1]


def _head(b: Box, whole_body: bool) -> Box:
    return b if whole_body else head_region(b, HEAD_FRACTION)


def plan_blur(
    allowed: Mapping[int, Box],
    others: Sequence[Box],
    *,
    detected_people: Sequence[Box] = (),
    faces: Sequence[Box] = (),
    whole_body: bool = False,
    subject_faces: Sequence[Box] | None = None,
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
        subject_faces: the face boxes that matched the query, when known: exactly
            these faces (and repeat detections of them, IoU > :data:`SAME_FACE_IOU`)
            stay sharp. Otherwise a face stays sharp only when it lies surely in one
            allowed person's head region and in nobody else's
            (:func:`cctrace.ingest.face_assignment.assign_faces`).
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
    valid_faces = [f for f in faces if _valid(f)]
    if subject_faces is not None:
        # The faces that matched the query are the subject's; nothing else is.
        keep = {
            i
            for i, f in enumerate(valid_faces)
            if any(box_iou(np.asarray(f), np.asarray(s)) > SAME_FACE_IOU for s in subject_faces)
        }
    else:
        container = Faces.boxes_only(np.asarray(valid_faces, np.float32).reshape(-1, 4))
        assignment = assign_faces(
            np.asarray(allowed_boxes, np.float32).reshape(-1, 4),
            container,
            np.asarray(bystanders, np.float32).reshape(-1, 4),
        )
        keep = set(assignment.rows)
    kept = tuple(f for i, f in enumerate(valid_faces) if i in keep)
    blurred = tuple(f for i, f in enumerate(valid_faces) if i not in keep)
    return BlurPlan(heads=heads, faces=blurred, kept_faces=kept)


def apply_blur(image: Image, plan: BlurPlan) -> Image:
    """A copy of ``image`` with every region of ``plan`` made unrecognisable.

    A kept face (positively an allowed person's) is then restored where a bystander's
    head region spilled over it, except where it touches another, blurred face.
    """
    regions = plan.regions
    if not regions:
        return image.copy()
    out = blur_boxes(image, np.asarray(regions, dtype=np.float64))
    height, width = image.shape[:2]
    for face in plan.kept_faces:
        x1, y1 = max(0, math.ceil(face[0])), max(0, math.ceil(face[1]))
        x2, y2 = min(width, math.floor(face[2])), min(height, math.floor(face[3]))
        if x2 <= x1 or y2 <= y1:
            continue
        keep = np.ones((y2 - y1, x2 - x1), bool)
        for other in plan.faces:
            w, h = other[2] - other[0], other[3] - other[1]
            ox1 = math.floor(other[0] - DEFAULT_EXPAND * w) - x1
            oy1 = math.floor(other[1] - DEFAULT_EXPAND * h) - y1
            ox2 = math.ceil(other[2] + DEFAULT_EXPAND * w) - x1
            oy2 = math.ceil(other[3] + DEFAULT_EXPAND * h) - y1
            keep[max(0, oy1) : max(0, oy2), max(0, ox1) : max(0, ox2)] = False
        region = out[y1:y2, x1:x2]
        region[keep] = image[y1:y2, x1:x2][keep]
    return out
