"""A cheap per-box appearance descriptor: part-wise HSV colour histograms.

Each person box is split into a torso part and a legs part (the central columns only,
so background at the box sides weighs less); each part gets a hue x saturation
histogram, square-rooted so that the dot product of two parts is their Bhattacharyya
coefficient. :func:`distances` is one minus the mean coefficient over the parts
(0 = same colours, 1 = disjoint). About 0.1 ms per box.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

PARTS = ((0.15, 0.5), (0.5, 0.9))
"""Torso and legs: (top, bottom) as shares of the box height."""
COLUMNS = (0.2, 0.8)
"""Left and right edge of the part, as shares of the box width."""
BINS = (8, 4)
"""Hue and saturation bins per part."""
MIN_SIDE_PX = 4
"""A part narrower or shorter than this gets an empty (all-zero) histogram."""
DIM = len(PARTS) * BINS[0] * BINS[1]
"""Length of one descriptor."""

Descriptors = npt.NDArray[np.float32]
"""(N, DIM) float32, one row per box."""


def describe(image: npt.NDArray[np.uint8], boxes: npt.ArrayLike) -> Descriptors:
    """Descriptors of the ``(N, 4)`` xyxy ``boxes`` in the BGR ``image``."""
    xyxy = np.asarray(boxes, np.float64).reshape(-1, 4)
    out = np.zeros((len(xyxy), DIM), np.float32)
    height, width = image.shape[:2]
    size = BINS[0] * BINS[1]
    for i, (x1, y1, x2, y2) in enumerate(xyxy.tolist()):
        w, h = x2 - x1, y2 - y1
        c0 = int(np.clip(x1 + COLUMNS[0] * w, 0, width))
        c1 = int(np.clip(x1 + COLUMNS[1] * w, 0, width))
        for p, (top, bottom) in enumerate(PARTS):
            r0 = int(np.clip(y1 + top * h, 0, height))
            r1 = int(np.clip(y1 + bottom * h, 0, height))
            if c1 - c0 < MIN_SIDE_PX or r1 - r0 < MIN_SIDE_PX:
                continue
            hsv = cv2.cvtColor(np.ascontiguousarray(image[r0:r1, c0:c1]), cv2.COLOR_BGR2HSV)
            hist = cv2.calcHist([hsv], [0, 1], None, list(BINS), [0, 180, 0, 256]).ravel()
            total = float(hist.sum())
            if total > 0:
                out[i, p * size : (p + 1) * size] = np.sqrt(hist / total)
    return out


def distances(a: Descriptors, b: Descriptors) -> npt.NDArray[np.float32]:
    """(len(a), len(b)) appearance distances, 0..1 (1 where a part is empty in either)."""
    a2 = np.asarray(a, np.float32).reshape(-1, DIM)
    b2 = np.asarray(b, np.float32).reshape(-1, DIM)
    size = BINS[0] * BINS[1]
    total = np.zeros((len(a2), len(b2)), np.float32)
    for p in range(len(PARTS)):
        part = slice(p * size, (p + 1) * size)
        total += a2[:, part] @ b2[:, part].T
    return np.clip(1.0 - total / len(PARTS), 0.0, 1.0)


def blend(old: Descriptors, new: Descriptors, keep: float) -> Descriptors:
    """Running average of square-rooted histograms (kept on the unit sphere per part)."""
    mixed = keep * np.asarray(old, np.float32) + (1.0 - keep) * np.asarray(new, np.float32)
    size = BINS[0] * BINS[1]
    out = mixed.copy()
    for p in range(len(PARTS)):
        part = slice(p * size, (p + 1) * size)
        norm = float(np.linalg.norm(mixed[part]))
        out[part] = mixed[part] / norm if norm > 0 else 0.0
    return out
