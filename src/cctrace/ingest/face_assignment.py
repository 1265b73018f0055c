"""Which person a face belongs to, only where that is beyond doubt.

A face is given to a person only when its centre lies inside exactly ONE person's
head region, at least a margin away from that region's edges, and no other
person's head region (grown by the same margin) holds it. Everything else is
*ambiguous* and stays unassigned: a face is never attributed to a neighbour.
Two faces that both fall in one person's head region are both ambiguous (one of
them is somebody else's, and nothing says which).

The head region comes from the person box geometry:

* a full-body box (at least :data:`FULL_BODY_ASPECT` times taller than wide): the
  middle :data:`FULL_BODY_HEAD_WIDTH` of its width (all of it when the box is cut
  off by the left or right image border), from a little above its top down to
  :data:`FULL_BODY_HEAD_DEPTH` of its height;
* a head-and-shoulders or close-up box: its whole width, from a little above its
  top down to :data:`CLOSE_UP_HEAD_DEPTH` of its height.

A face must also be of a plausible size for the box (not wider than the box, not
taller than :data:`MAX_FACE_TO_BOX_HEIGHT` of a full body).

:func:`faces_outside_heads` is the check usable in tests and evaluation: it counts
the assignments whose face centre is not in the assigned person's head region.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from cctrace.boxes import box_iou
from cctrace.types import Detections, Faces, FloatArray

FULL_BODY_ASPECT = 2.2
"""A person box at least this many times taller than wide shows the whole body."""
FULL_BODY_HEAD_WIDTH = 0.7
"""Share of a full-body box's width (centred) where its head may be."""
FULL_BODY_HEAD_DEPTH = 0.28
"""Share of a full-body box's height, from its top, where its face centre may be (a
standing person's face centre is at about 0.07; 0.28 also holds people seated or cut
off by the frame: on a pan over t1.jpg 0.22 left a clear face 3 px short)."""
CLOSE_UP_HEAD_DEPTH = 0.6
"""Share of a head-and-shoulders box's height, from its top, where its face centre may be."""
ABOVE_TOP = 0.05
"""The head region starts this share of the box height above its top (loose boxes)."""
MARGIN_FACE_WIDTHS = 0.25
"""The face centre must be this many face widths inside its head region, and this far
outside every other head region."""
MAX_FACE_TO_BOX_HEIGHT = 0.35
"""A full body's face is at most this share of its box height."""
DUPLICATE_IOU = 0.25
"""Two faces in one head region overlapping this much are one head detected twice (a
permissive detector often adds a weaker box over the forehead or chin); the better
one is the person's, the other is never given to anybody."""
BORDER_PX = 2.0
"""A box edge this close to the image border is cut off by it."""
SAME_PERSON_IOU = 0.5
"""An untracked detection with this IoU with a tracked box is that tracked person."""


class FaceFate(StrEnum):
    """What became of a face."""

    ASSIGNED = "assigned"
    AMBIGUOUS = "ambiguous"
    """Near or inside several head regions, or sharing one head region with another face."""
    NO_PERSON = "no_person"
    """In nobody's head region (a whole-frame search, a person nobody detected)."""


@dataclass(frozen=True)
class FaceAssignment:
    """The outcome for each face of one frame against the person boxes of that frame.

    ``rows`` maps face index -> row of the person box it belongs to (assigned only);
    ``fates`` gives every face's :class:`FaceFate`.
    """

    rows: dict[int, int]
    fates: tuple[FaceFate, ...]

    @property
    def ambiguous(self) -> tuple[int, ...]:
        """Indices of the ambiguous faces."""
        return tuple(i for i, f in enumerate(self.fates) if f is FaceFate.AMBIGUOUS)

    @property
    def unassigned(self) -> tuple[int, ...]:
        """Indices of every face no person holds (ambiguous or in nobody's head)."""
        return tuple(i for i, f in enumerate(self.fates) if f is not FaceFate.ASSIGNED)

    def face_of(self, row: int) -> int | None:
        """The face index assigned to person ``row``, or None."""
        for face, r in self.rows.items():
            if r == row:
                return face
        return None

    def count(self, fate: FaceFate) -> int:
        """How many faces had ``fate``."""
        return sum(1 for f in self.fates if f is fate)


def head_region_of(
    box: npt.ArrayLike, image_width: float = 0.0
) -> tuple[float, float, float, float]:
    """The head region of one person box ``(x1, y1, x2, y2)`` (see the module doc).

    With ``image_width`` known, a box cut off by the left or right image border (within
    :data:`BORDER_PX`) uses its whole width: the visible part of the body need not be
    centred under the head.
    """
    x1, y1, x2, y2 = (float(v) for v in np.asarray(box, np.float64).reshape(4))
    w, h = x2 - x1, y2 - y1
    top = y1 - ABOVE_TOP * h
    at_border = x1 <= BORDER_PX or (image_width > 0 and x2 >= image_width - BORDER_PX)
    if h >= FULL_BODY_ASPECT * w and at_border:
        return (x1, top, x2, y1 + FULL_BODY_HEAD_DEPTH * h)
    if h >= FULL_BODY_ASPECT * w:
        side = (1.0 - FULL_BODY_HEAD_WIDTH) / 2 * w
        return (x1 + side, top, x2 - side, y1 + FULL_BODY_HEAD_DEPTH * h)
    return (x1, top, x2, y1 + CLOSE_UP_HEAD_DEPTH * h)


def head_regions_of(boxes: npt.ArrayLike, image_width: float = 0.0) -> FloatArray:
    """Head regions of (N, 4) person boxes, (N, 4)."""
    arr = np.asarray(boxes, np.float64).reshape(-1, 4)
    return np.array([head_region_of(b, image_width) for b in arr], np.float32).reshape(-1, 4)


def _plausible(face: npt.NDArray[np.float32], box: npt.NDArray[np.float32]) -> bool:
    fw, fh = float(face[2] - face[0]), float(face[3] - face[1])
    w, h = float(box[2] - box[0]), float(box[3] - box[1])
    if fw <= 0 or fh <= 0 or w <= 0 or h <= 0 or fw > 1.1 * w:
        return False
    return not (h >= FULL_BODY_ASPECT * w and fh > MAX_FACE_TO_BOX_HEIGHT * h)


def assign_faces(
    persons: Detections | npt.ArrayLike,
    faces: Faces,
    bystanders: Detections | npt.ArrayLike | None = None,
) -> FaceAssignment:
    """Give each face to the one person whose head region surely holds it, or to nobody.

    Args:
        persons: the person boxes faces may be given to (rows of the result).
        faces: the faces of the same frame.
        bystanders: more person boxes of the frame (for example untracked
            detections) that can make a face ambiguous but never receive one; a box
            matching a ``persons`` box (IoU >= :data:`SAME_PERSON_IOU`) is that person.
    """
    boxes = np.asarray(persons.xyxy if isinstance(persons, Detections) else persons, np.float32)
    boxes = boxes.reshape(-1, 4)
    extra = np.zeros((0, 4), np.float32)
    if bystanders is not None:
        raw = bystanders.xyxy if isinstance(bystanders, Detections) else bystanders
        cand = np.asarray(raw, np.float32).reshape(-1, 4)
        keep = [b for b in cand if not any(box_iou(b, p) >= SAME_PERSON_IOU for p in boxes)]
        extra = np.asarray(keep, np.float32).reshape(-1, 4)
    n_faces = len(faces)
    if n_faces == 0:
        return FaceAssignment({}, ())
    all_boxes = np.concatenate([boxes, extra])
    width = faces.frame.width if faces.frame is not None else 0
    regions = head_regions_of(all_boxes, width)
    centres = faces.centres
    widths = faces.xyxy[:, 2] - faces.xyxy[:, 0]
    fates: list[FaceFate] = []
    owner: list[int | None] = []
    for i in range(n_faces):
        cx, cy = float(centres[i, 0]), float(centres[i, 1])
        m = MARGIN_FACE_WIDTHS * float(widths[i])
        loose = [
            j
            for j, (x1, y1, x2, y2) in enumerate(regions)
            if x1 - m <= cx <= x2 + m and y1 - m <= cy <= y2 + m
        ]
        if not loose:
            fates.append(FaceFate.NO_PERSON)
            owner.append(None)
            continue
        j = loose[0]
        x1, y1, x2, y2 = regions[j]
        core = x1 + m <= cx <= x2 - m and y1 + m <= cy <= y2 - m
        if len(loose) == 1 and core and j < len(boxes) and _plausible(faces.xyxy[i], all_boxes[j]):
            fates.append(FaceFate.ASSIGNED)
            owner.append(j)
        else:
            fates.append(FaceFate.AMBIGUOUS)
            owner.append(None)
    # One head, one face: two faces in one head region are both in doubt.
    by_row: dict[int, list[int]] = {}
    for i, who in enumerate(owner):
        if who is not None:
            by_row.setdefault(who, []).append(i)
    rows: dict[int, int] = {}
    for row, idx in by_row.items():
        first = idx[0]
        # Faces come best first; a second detection of the same head
        # (IoU > DUPLICATE_IOU) is not a second face.
        dups = [i for i in idx[1:] if box_iou(faces.xyxy[i], faces.xyxy[first]) > DUPLICATE_IOU]
        if len(dups) == len(idx) - 1:
            rows[first] = row
            for i in dups:
                fates[i] = FaceFate.AMBIGUOUS
        else:
            for i in idx:
                fates[i] = FaceFate.AMBIGUOUS
    return FaceAssignment(rows, tuple(fates))


def faces_outside_heads(
    persons: Detections | npt.ArrayLike, faces: Faces, rows: dict[int, int]
) -> int:
    """How many assignments (face index -> person row) put a face on a person whose
    head region does not hold the face centre. Must be 0; usable in evaluation."""
    boxes = np.asarray(persons.xyxy if isinstance(persons, Detections) else persons, np.float32)
    boxes = boxes.reshape(-1, 4)
    bad = 0
    centres = faces.centres
    width = faces.frame.width if faces.frame is not None else 0
    for i, j in rows.items():
        x1, y1, x2, y2 = head_region_of(boxes[j], width)
        cx, cy = float(centres[i, 0]), float(centres[i, 1])
        if not (x1 <= cx <= x2 and y1 <= cy <= y2):
            bad += 1
    return bad
