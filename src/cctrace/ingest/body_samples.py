"""Body appearance samples of one camera's people, gathered during ingest.

Every ``every_n`` analysed frames, each confirmed person box that shows one person
cleanly (tall enough, inside the frame, hardly overlapped by anyone else's box) is
described by the site's body embedder and kept with its frame and box. When a tracklet
is finished (tracks may have been joined and smoothed since), its samples are found by
matching its own stored boxes to the kept ones (same frame, IoU >= 0.5), and their mean
(L2-normalised) becomes the tracklet's body embedding. A box overlapped by another would
mix two people's clothes, so it is never sampled; a tracklet seen only in a crowd has no
body embedding rather than a wrong one.

The sampler is part of the camera's checkpointed state (plain numpy, pickles).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from cctrace.boxes import iou_matrix
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
        if not rows:
            return 0
        boxes = confirmed.xyxy[rows]
        embeddings = embedder.embed(image, boxes.tolist())
        self.samples[frame_index] = [
            _Sample(timestamp, box.astype(np.float32), float(box[3] - box[1]), emb)
            for box, emb in zip(boxes, embeddings, strict=True)
            if np.any(emb)
        ]
        return len(self.samples[frame_index])

    def embedding_for(self, points: Iterable[TrackPoint]) -> FloatArray | None:
        """Mean embedding of the samples that match a tracklet's boxes, or None."""
        found: list[_Sample] = []
        for p in points:
            candidates = self.samples.get(p.frame_index)
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
        if when is None:
            self.samples.clear()
            return
        stale = [f for f, s in self.samples.items() if s and s[0].timestamp < when]
        for frame in stale:
            del self.samples[frame]


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
