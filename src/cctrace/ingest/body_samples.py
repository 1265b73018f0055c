"""Body appearance samples of one camera's people, gathered during ingest.

Every ``every_n`` analysed frames, each confirmed person box that shows one person
cleanly (tall enough, inside the frame, hardly overlapped by anyone else's box) is
described by the site's body embedder and kept with its frame and box. When a tracklet
is finished (tracks may have been joined and smoothed since), its samples are found by
matching its own stored boxes to the kept ones (same frame, IoU >= 0.5), and their mean
(L2-normalised) becomes the tracklet's body embedding. A box overlapped by another would
mix two people's clothes, so it is never sampled; a tracklet seen only in a crowd has no
body embedding rather than a wrong one.

A person cut by the left or right edge of the picture (walking in or out of view, often
exactly where they cross to the next camera) still shows their clothes in the right
bands: the descriptor cuts a box into horizontal parts (head, torso, legs), and a side cut
narrows each part without mixing them. Such boxes are kept apart and used only for a
tracklet that has no whole view at all (``side_cut`` samples); a box cut at the top or
bottom is never used.

The sampler is part of the camera's checkpointed state (``to_state``: times and numpy
arrays).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from cctrace.boxes import iou_matrix
from cctrace.state import from_plain, to_plain
from cctrace.types import Detections, FloatArray, Image, TrackPoint
from cctrace.vision.base import BodyEmbedder, l2_normalise

MIN_BODY_PX = 48.0
"""Shorter person boxes are not sampled (too few pixels to describe clothes)."""
MAX_OVERLAP = 0.1
"""A box overlapping any other box by more than this IoU is not sampled."""
EDGE_MARGIN_PX = 2.0
"""A box touching the frame edge (person cut off) is not sampled."""
MATCH_IOU = 0.5
MAX_SAMPLES = 8
"""At most this many samples make a tracklet's embedding (the tallest boxes)."""
MIN_SIDE_CUT_WIDTH = 0.2
"""A side-cut box narrower than this fraction of its height shows too little to use."""


@dataclass
class _Sample:
    timestamp: datetime
    box: np.ndarray
    height: float
    embedding: np.ndarray


@dataclass
class BodySampler:
    """Clean-box body samples by frame index, for one camera."""

    every_n: int = 7
    frames_seen: int = 0
    samples: dict[int, list[_Sample]] = field(default_factory=dict)
    side_cut: dict[int, list[_Sample]] = field(default_factory=dict)
    """Samples of boxes cut by the left or right frame edge: only for tracklets with no
    whole view."""

    def to_state(self) -> Any:
        """Plain numbers, times and arrays (:meth:`from_state` gives it back)."""
        return to_plain(self)

    @classmethod
    def from_state(cls, state: Any) -> BodySampler:
        """The sampler :meth:`to_state` described (:class:`~cctrace.state.StateError`)."""
        made: BodySampler = from_plain(cls, state, "body sampler")
        return made

    def observe(
        self,
        frame_index: int,
        timestamp: datetime,
        image: Image,
        confirmed: Detections,
        embedder: BodyEmbedder,
    ) -> int:
        """Sample this frame's clean person boxes (on every ``every_n``-th call);
        return how many were sampled."""
        self.frames_seen += 1
        if self.every_n <= 0 or (self.frames_seen - 1) % self.every_n or len(confirmed) == 0:
            return 0
        rows = clean_rows(confirmed.xyxy, image.shape[1], image.shape[0])
        cut = side_cut_rows(confirmed.xyxy, image.shape[1], image.shape[0])
        if not rows and not cut:
            return 0
        boxes = confirmed.xyxy[rows + cut]
        embeddings = embedder.embed(image, boxes.tolist())
        taken = [
            _Sample(timestamp, box.astype(np.float32), float(box[3] - box[1]), emb)
            if np.any(emb)
            else None
            for box, emb in zip(boxes, embeddings, strict=True)
        ]
        if rows:
            self.samples[frame_index] = [t for t in taken[: len(rows)] if t is not None]
        if cut:
            self.side_cut[frame_index] = [t for t in taken[len(rows) :] if t is not None]
        return sum(t is not None for t in taken)

    def embedding_for(self, points: Iterable[TrackPoint]) -> FloatArray | None:
        """Mean embedding of the whole-view samples that match a tracklet's boxes; of its
        side-cut samples when it has no whole view; None when it has neither."""
        points = list(points)
        whole = self._mean(points, self.samples)
        return whole if whole is not None else self._mean(points, self.side_cut)

    @staticmethod
    def _mean(points: list[TrackPoint], pool: dict[int, list[_Sample]]) -> FloatArray | None:
        found: list[_Sample] = []
        for p in points:
            candidates = pool.get(p.frame_index)
            if not candidates:
                continue
            ious = iou_matrix(np.asarray([p.xyxy]), np.stack([c.box for c in candidates]))[0]
            best = int(np.argmax(ious))
            if ious[best] >= MATCH_IOU:
                found.append(candidates[best])
        if not found:
            return None
        found.sort(key=lambda s: -s.height)
        mean = np.mean([s.embedding for s in found[:MAX_SAMPLES]], axis=0)
        return l2_normalise(mean[None, :])[0]

    def forget_before(self, when: datetime | None) -> None:
        """Drop samples older than ``when`` (no open track reaches back that far)."""
        for pool in (self.samples, self.side_cut):
            if when is None:
                pool.clear()
                continue
            stale = [f for f, s in pool.items() if s and s[0].timestamp < when]
            for frame in stale:
                del pool[frame]


def clean_rows(xyxy: np.ndarray, width: int, height: int) -> list[int]:
    """Rows of boxes that show one whole person: tall enough, off the frame edges, and
    overlapping no other box by more than ``MAX_OVERLAP`` IoU."""
    boxes = np.asarray(xyxy, np.float64).reshape(-1, 4)
    if len(boxes) == 0:
        return []
    ious = iou_matrix(boxes, boxes)
    np.fill_diagonal(ious, 0.0)
    out = []
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        if y2 - y1 < MIN_BODY_PX or ious[i].max(initial=0.0) > MAX_OVERLAP:
            continue
        m = EDGE_MARGIN_PX
        if x1 <= m or y1 <= m or x2 >= width - m or y2 >= height - m:
            continue
        out.append(i)
    return out


def side_cut_rows(xyxy: np.ndarray, width: int, height: int) -> list[int]:
    """Rows of boxes cut only by the left or right frame edge: tall enough, wide enough
    (``MIN_SIDE_CUT_WIDTH`` of their height), off the top and bottom edges, and
    overlapping no other box by more than ``MAX_OVERLAP`` IoU."""
    boxes = np.asarray(xyxy, np.float64).reshape(-1, 4)
    if len(boxes) == 0:
        return []
    ious = iou_matrix(boxes, boxes)
    np.fill_diagonal(ious, 0.0)
    m = EDGE_MARGIN_PX
    out = []
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        tall = y2 - y1
        if tall < MIN_BODY_PX or ious[i].max(initial=0.0) > MAX_OVERLAP:
            continue
        if y1 <= m or y2 >= height - m or x2 - x1 < MIN_SIDE_CUT_WIDTH * tall:
            continue
        if x1 <= m or x2 >= width - m:
            out.append(i)
    return out
