"""Blur everyone in a snapshot except the subject.

Exports show the case and confirmed contacts only; every other face is hidden
(DESIGN.md, "Privacy by design"). :func:`redact_snapshot` hides

* every detected face that is not the subject's, and
* the head region of every other person box, so bystanders too small or too
  turned away for the face detector are hidden as well.

Blurring is irreversible in practice: a region is reduced to a handful of colour
cells (a coarse pixelation), smoothed back to full size and Gaussian blurred,
so no facial detail survives. Inputs are never mutated; every function returns
a new array.

Boxes are ``(x1, y1, x2, y2)`` in pixels (the ``Detections.xyxy`` convention).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from cctrace.boxes import box_iou
from cctrace.types import Image

logger = logging.getLogger(__name__)

Box = tuple[float, float, float, float]
BoxesLike = npt.ArrayLike
"""An (N, 4) array or a sequence of ``(x1, y1, x2, y2)`` boxes; may be empty."""

HEAD_FRACTION = 0.22
"""Share of a person box's height, from its top, that holds the head."""
HEAD_WIDEN = 0.10
"""Head region widening on each side, as a share of the person box's width."""
SUBJECT_OVERLAP_IOU = 0.6
"""A person box with at least this IoU with the subject's box is the subject."""
DEFAULT_EXPAND = 0.12
"""Blurred boxes grow by this share of their size on each side (hair, ears, jaw)."""


def _as_boxes(boxes: BoxesLike) -> npt.NDArray[np.float64]:
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.size == 0:
        return np.zeros((0, 4), dtype=np.float64)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"boxes must be (N, 4) x1, y1, x2, y2; got shape {arr.shape}")
    return arr


def _check_image(image: Image) -> None:
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or image.size == 0:
        shape = getattr(image, "shape", None)
        raise ValueError(f"image must be a non-empty HxW or HxWxC array; got shape {shape}")


def _clip_box(box: npt.NDArray[np.float64], width: int, height: int) -> tuple[int, int, int, int]:
    """Integer pixel box clipped to the image; may be empty (x2 <= x1)."""
    x1 = max(0, math.floor(box[0]))
    y1 = max(0, math.floor(box[1]))
    x2 = min(width, math.ceil(box[2]))
    y2 = min(height, math.ceil(box[3]))
    return x1, y1, x2, y2


def _expand(box: npt.NDArray[np.float64], fraction: float) -> npt.NDArray[np.float64]:
    w = box[2] - box[0]
    h = box[3] - box[1]
    return np.array(
        [box[0] - fraction * w, box[1] - fraction * h, box[2] + fraction * w, box[3] + fraction * h]
    )


def _obliterate(region: Image, strength: float) -> Image:
    """The region reduced to a few colour cells, smoothed and blurred."""
    h, w = region.shape[:2]
    # strength 1.0 keeps 4 cells across the shorter side; 0.1 keeps about 11.
    cells = max(2, round(4 + 8 * (1.0 - strength)))
    short = min(h, w)
    scale = min(1.0, cells / short)
    small_w = max(1, round(w * scale))
    small_h = max(1, round(h * scale))
    small = cv2.resize(region, (small_w, small_h), interpolation=cv2.INTER_AREA)
    big = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    sigma = max(1.0, short / cells / 2.0)
    out = cv2.GaussianBlur(big, (0, 0), sigmaX=sigma, sigmaY=sigma)
    return np.asarray(out, dtype=region.dtype).reshape(region.shape)


def blur_boxes(
    image: Image,
    boxes: BoxesLike,
    strength: float = 1.0,
    *,
    expand: float = DEFAULT_EXPAND,
) -> Image:
    """A copy of ``image`` with every box made unrecognisable.

    Args:
        image: HxW or HxWxC uint8 image (not modified).
        boxes: ``(x1, y1, x2, y2)`` pixel boxes; parts outside the image are
            clipped, boxes wholly outside or empty are skipped.
        strength: in (0, 1]; 1.0 (default) keeps only about 4 colour cells across
            a box's shorter side, lower values keep a little more structure.
        expand: each box grows by this share of its width/height on each side.

    Raises:
        ValueError: on a malformed image or boxes, or ``strength`` outside (0, 1].
    """
    _check_image(image)
    if not 0.0 < strength <= 1.0:
        raise ValueError(f"strength must be in (0, 1]; got {strength}")
    if expand < 0:
        raise ValueError(f"expand must be >= 0; got {expand}")
    arr = _as_boxes(boxes)
    out = image.copy()
    height, width = image.shape[:2]
    clipped: list[tuple[int, int, int, int]] = []
    for box in arr:
        if not np.all(np.isfinite(box)) or box[2] <= box[0] or box[3] <= box[1]:
            logger.debug("skipping degenerate box %s", box.tolist())
            continue
        x1, y1, x2, y2 = _clip_box(_expand(box, expand), width, height)
        if x2 - x1 < 1 or y2 - y1 < 1:
            continue
        clipped.append((x1, y1, x2, y2))
    for group in _overlapping_groups(clipped):
        # One obliteration per group of overlapping boxes, kept only inside their union:
        # blurring them one after another left the edge of one box's cells as a sharp
        # step across its neighbour's (a face there kept visible detail).
        gx1, gy1 = min(b[0] for b in group), min(b[1] for b in group)
        gx2, gy2 = max(b[2] for b in group), max(b[3] for b in group)
        mask = np.zeros((gy2 - gy1, gx2 - gx1), dtype=bool)
        for x1, y1, x2, y2 in group:
            mask[y1 - gy1 : y2 - gy1, x1 - gx1 : x2 - gx1] = True
        whole = _obliterate(out[gy1:gy2, gx1:gx2], strength)
        region = out[gy1:gy2, gx1:gx2]
        region[mask] = whole[mask]
    return out


def _overlapping_groups(
    boxes: list[tuple[int, int, int, int]],
) -> list[list[tuple[int, int, int, int]]]:
    """Boxes grouped so that boxes that overlap (directly or through others) share a group."""
    parent = list(range(len(boxes)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, a in enumerate(boxes):
        for j in range(i + 1, len(boxes)):
            b = boxes[j]
            if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                parent[find(j)] = find(i)
    groups: dict[int, list[tuple[int, int, int, int]]] = {}
    for i, box in enumerate(boxes):
        groups.setdefault(find(i), []).append(box)
    return list(groups.values())


def _area(box: npt.NDArray[np.float64]) -> float:
    return float(max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1]))


def _intersection(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return float(max(0.0, w) * max(0.0, h))


def head_region(person_xyxy: BoxesLike, fraction: float = HEAD_FRACTION) -> Box:
    """The head part of a person box: its top ``fraction``, slightly widened."""
    box = _as_boxes(person_xyxy)[0]
    w = box[2] - box[0]
    h = box[3] - box[1]
    return (
        float(box[0] - HEAD_WIDEN * w),
        float(box[1] - 0.02 * h),
        float(box[2] + HEAD_WIDEN * w),
        float(box[1] + fraction * h),
    )


def _subject_face(
    subject: npt.NDArray[np.float64],
    faces: npt.NDArray[np.float64],
    persons: npt.NDArray[np.float64],
) -> int | None:
    """Index of the face that is POSITIVELY the subject's, or None.

    The rule of :func:`cctrace.ingest.face_assignment.assign_faces`: the face centre
    lies inside the subject's head region with a margin, inside no other person's
    head region, and no second face shares the subject's head. Anything less keeps
    no face: every face is then blurred.
    """
    from cctrace.ingest.face_assignment import assign_faces
    from cctrace.types import Faces

    if len(faces) == 0:
        return None
    container = Faces.boxes_only(faces)
    assignment = assign_faces(subject.reshape(1, 4), container, persons)
    return assignment.face_of(0)


def redact_snapshot(
    image: Image,
    subject_xyxy: Sequence[float] | npt.ArrayLike,
    face_boxes: BoxesLike,
    person_boxes: BoxesLike,
    *,
    subject_face: Sequence[float] | npt.ArrayLike | None = None,
    subject_face_known: bool = False,
    strength: float = 1.0,
) -> Image:
    """A copy of ``image`` where nobody but the subject can be recognised.

    Args:
        image: the snapshot (not modified).
        subject_xyxy: the subject's person box in ``image``.
        face_boxes: every face detected in ``image`` (the subject's included),
            best score first. Detect them permissively (a low threshold): a false
            positive costs a blurred patch, a missed face is a leak.
        person_boxes: every person detected in ``image`` (the subject's
            included). For each box that does not heavily overlap the subject's
            (IoU < 0.6), the head region (top 22 %, widened) is blurred.
        subject_face: the subject's face box when the caller knows it (the face
            that matched the query, or the face surely assigned to the tracked
            person). Otherwise a face is kept only when it is POSITIVELY the
            subject's: inside the subject's head region with a margin and in no
            other person's head region (see :func:`_subject_face`). Every other
            face is blurred, except duplicate detections of the kept face (IoU > 0.5).
        subject_face_known: the caller has decided (``subject_face`` None then
            means "no face is surely the subject's": every face is blurred).
        strength: as in :func:`blur_boxes`.

    The subject's face box itself is never blurred, even where a bystander's
    blurred region overlaps it (those pixels show the subject).

    Returns:
        The redacted copy.
    """
    _check_image(image)
    subject = _as_boxes(subject_xyxy)
    if len(subject) != 1:
        raise ValueError(f"subject_xyxy must be one box; got {len(subject)}")
    subj = subject[0]
    faces = _as_boxes(face_boxes)
    persons = _as_boxes(person_boxes)

    kept_face: npt.NDArray[np.float64] | None
    if subject_face is not None:
        given = _as_boxes(subject_face)
        if len(given) != 1:
            raise ValueError(f"subject_face must be one box; got {len(given)}")
        kept_face = given[0]
    elif subject_face_known:
        kept_face = None
    else:
        kept = _subject_face(subj, faces, persons)
        kept_face = None if kept is None else faces[kept]

    to_blur: list[npt.NDArray[np.float64]] = []
    for face in faces:
        if kept_face is not None and box_iou(face, kept_face) > 0.5:
            continue  # the subject's face, or a duplicate detection of it
        to_blur.append(face)

    subject_head = (
        kept_face if kept_face is not None else np.asarray(head_region(subj), dtype=np.float64)
    )
    for person in persons:
        if _area(person) <= 0 or box_iou(person, subj) >= SUBJECT_OVERLAP_IOU:
            continue
        head = np.asarray(head_region(person), dtype=np.float64)
        # A "head" that lies mostly on the subject's own head is a partial
        # detection of the subject, not a bystander.
        if _intersection(head, subject_head) / max(_area(head), 1e-9) > 0.5:
            continue
        to_blur.append(head)

    if not to_blur:
        return image.copy()
    logger.debug("redacting %d region(s) in a %s snapshot", len(to_blur), image.shape)
    # Overlapping regions are blurred as one: two mosaics meeting across a face would
    # leave a sharp seam through it.
    out = blur_boxes(image, _merge_overlapping(np.stack(to_blur)), strength)
    if kept_face is not None:
        height, width = image.shape[:2]
        x1, y1, x2, y2 = _clip_box(kept_face, width, height)
        if x2 > x1 and y2 > y1:
            out[y1:y2, x1:x2] = image[y1:y2, x1:x2]
    return out


def _merge_overlapping(boxes: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Boxes that overlap, directly or through others, replaced by their union box."""
    merged = [list(map(float, b)) for b in boxes]
    changed = True
    while changed:
        changed = False
        for i in range(len(merged)):
            for j in range(i + 1, len(merged)):
                a, b = merged[i], merged[j]
                if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                    merged[i] = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]
                    del merged[j]
                    changed = True
                    break
            if changed:
                break
    return np.asarray(merged, dtype=np.float64).reshape(-1, 4)


def _window(lo: float, hi: float, min_size: int, limit: int) -> tuple[int, int]:
    """An integer span covering [lo, hi], at least ``min_size`` long where
    ``limit`` allows, shifted (not shrunk) to stay inside [0, limit]."""
    size = min(limit, max(math.ceil(hi - lo), min_size))
    centre = (lo + hi) / 2
    start = round(centre - size / 2)
    start = min(max(start, 0), limit - size)
    end = start + size
    # A margin larger than the image is simply clipped.
    return max(0, start), min(limit, end)


def crop_with_context(
    image: Image,
    xyxy: Sequence[float] | npt.ArrayLike,
    margin: float = 0.5,
    min_size: int = 96,
) -> tuple[Image, Box]:
    """A crop around a box with some surroundings, and the box in crop pixels.

    Args:
        image: the frame (not modified; the crop is a copy).
        xyxy: the box to centre on, ``(x1, y1, x2, y2)`` pixels.
        margin: context added on each side, as a share of the box's width
            (left/right) and height (top/bottom).
        min_size: the crop is widened/heightened (about the box's centre) to at
            least this many pixels where the image allows.

    Returns:
        ``(crop, box_in_crop)``; the box is clipped to the crop.

    Raises:
        ValueError: when the box does not overlap the image, or on bad arguments.
    """
    _check_image(image)
    if margin < 0:
        raise ValueError(f"margin must be >= 0; got {margin}")
    if min_size < 1:
        raise ValueError(f"min_size must be >= 1; got {min_size}")
    box = _as_boxes(xyxy)
    if len(box) != 1:
        raise ValueError(f"xyxy must be one box; got {len(box)}")
    b = box[0]
    height, width = image.shape[:2]
    inside = _clip_box(b, width, height)
    if not np.all(np.isfinite(b)) or inside[2] <= inside[0] or inside[3] <= inside[1]:
        raise ValueError(f"box {b.tolist()} does not overlap the {width}x{height} image")

    bw, bh = b[2] - b[0], b[3] - b[1]
    x1, y1 = b[0] - margin * bw, b[1] - margin * bh
    x2, y2 = b[2] + margin * bw, b[3] + margin * bh
    cx1, cx2 = _window(x1, x2, min_size, width)
    cy1, cy2 = _window(y1, y2, min_size, height)
    crop = image[cy1:cy2, cx1:cx2].copy()
    in_crop = (
        float(np.clip(b[0] - cx1, 0, cx2 - cx1)),
        float(np.clip(b[1] - cy1, 0, cy2 - cy1)),
        float(np.clip(b[2] - cx1, 0, cx2 - cx1)),
        float(np.clip(b[3] - cy1, 0, cy2 - cy1)),
    )
    return crop, in_crop
