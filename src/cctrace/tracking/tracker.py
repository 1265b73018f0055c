"""Per-camera multi-object tracking, wrapping the `trackers` library (Apache-2.0).

One ``PersonTracker`` per camera: its state belongs to the instance and pickles,
so an interrupted ingest resumes with the same track ids.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from scipy.optimize import linear_sum_assignment
from trackers import ByteTrackTracker

from cctrace.tracking.appearance import Descriptors, blend, describe, distances
from cctrace.types import Detections

TRACKER_TYPES = ("bytetrack", "ocsort", "sort")
APPEARANCE_WEIGHT = 0.0
"""Default of ByteTrack's ``appearance_weight`` option: its first round ranks matches by
IoU minus this times the appearance distance (0 = boxes only). Measured with YOLOv3-tiny
and the post-processing, ranking only (a pair is accepted on IoU alone):
PETS S2L1 (tuned on) MOTA / IDF1 / switches 0.875 / 0.843 / 13 at 0 and 0.3, 0.877 / 0.833
/ 13 at 0.5, 0.874 / 0.832 / 13 at 1.0; PETS S3-MF1 (held out) 0.858 / 0.908 / 2 at 0, 0.3
and 0.5, 0.900 / 0.940 / 1 at 1.0. As a penalty that could also reject a pair (IoU minus
the penalty under ByteTrack's 0.1), S2L1 IDF1 fell to 0.832-0.834 at 0.15-1.0. Off, since
it lowers IDF1 on S2L1; ``ingest.appearance_weight`` turns it on."""
APPEARANCE_KEEP = 0.8
"""A track's appearance is a running average: this much old, the rest the new box."""
HIGH_CONFIDENCE = 0.8
"""ByteTrack's first-round detection score (see :func:`_make`)."""


class PersonTracker:
    """Assigns stable ids to person detections over consecutive analysed frames.

    ``frame_rate`` is the analysis rate; ``lost_after_s`` how long a track
    survives without detections before its id is retired.
    """

    def __init__(
        self,
        kind: str = "bytetrack",
        frame_rate: float = 7.0,
        lost_after_s: float = 2.0,
        params: dict[str, Any] | None = None,
    ) -> None:
        if kind not in TRACKER_TYPES:
            raise ValueError(f"unknown tracker {kind!r}; choose one of {', '.join(TRACKER_TYPES)}")
        self.kind = kind
        self.frame_rate = frame_rate
        # trackers 2.6 reads lost_track_buffer as frames at 30 fps and scales it by
        # frame_rate / 30 itself.
        buffer = max(1, round(lost_after_s * 30))
        options: dict[str, Any] = {"lost_track_buffer": buffer, "frame_rate": frame_rate}
        options.update(params or {})
        self._tracker = _make(kind, options)

    @property
    def frames_kept_lost(self) -> int:
        """Analysed frames a lost track survives (from the library's own scaling)."""
        return int(self._tracker.maximum_frames_without_update)

    def drop_tracks(self) -> None:
        """Forget every track (a shot cut or recording gap): the next boxes start new ones.

        Ids keep counting up, so a track after the cut never reuses an earlier id.
        """
        self._tracker.tracks = []
        self._tracker._last_timestamp = None

    def update(self, detections: Detections, image: np.ndarray | None = None) -> Detections:
        """Detections of this frame with ``tracker_id`` set (-1 = not yet confirmed).

        Rows keep the input order; boxes are the detector's boxes. With ``image`` (the
        frame) and ``appearance_weight`` > 0, ByteTrack's box overlap is penalised by how
        different each box's colours are from the track's
        (:class:`AppearanceByteTrack`).
        """
        import supervision as sv

        n = len(detections)
        if n == 0:
            sv_in = sv.Detections.empty()
        else:
            sv_in = sv.Detections(
                xyxy=detections.xyxy.astype(np.float32),
                confidence=detections.confidence.astype(np.float32),
                class_id=detections.class_id.astype(int),
                data={"row": np.arange(n)},
            )
        tracker = self._tracker
        if isinstance(tracker, AppearanceByteTrack) and image is not None and n:
            out = tracker.update_with(sv_in, describe(image, detections.xyxy))
        else:
            out = tracker.update(sv_in)
        ids = np.full(n, -1, np.int64)
        if n and len(out):
            rows = np.asarray(out.data["row"], dtype=np.int64)
            tids = out.tracker_id if out.tracker_id is not None else np.full(len(rows), -1)
            ids[rows] = np.asarray(tids, dtype=np.int64)
        return detections.with_tracker_id(ids)


def _make(kind: str, options: dict[str, Any]) -> Any:
    from trackers import OCSORTTracker, SORTTracker

    if kind == "bytetrack":
        options.setdefault("track_activation_threshold", 0.4)
        # Only confident boxes are matched first; the rest (often a person half hidden
        # behind another) only extend tracks left unmatched. With YOLOv3-tiny on PETS S2L1
        # (plus linking, gap filling and smoothing) IDF1 rose with this threshold:
        # 0.5: 0.765, 0.6: 0.719, 0.7: 0.810, 0.75: 0.825, 0.8: 0.838, 0.9: 0.832;
        # MOTA stayed 0.87-0.875 up to 0.8.
        options.setdefault("high_conf_det_threshold", HIGH_CONFIDENCE)
        options.setdefault("minimum_consecutive_frames", 2)
        weight = float(options.pop("appearance_weight", APPEARANCE_WEIGHT))
        if weight > 0:
            return AppearanceByteTrack(weight, **options)
        return ByteTrackTracker(**options)
    if kind == "ocsort":
        return OCSORTTracker(**options)
    return SORTTracker(**options)


class AppearanceByteTrack(ByteTrackTracker):
    """ByteTrack whose first (confident-box) round also compares colours.

    Each track carries a running part-wise colour histogram
    (:mod:`cctrace.tracking.appearance`); in the first association round the IoU of a
    track and a box is lowered by ``weight`` times their appearance distance, so when
    two people cross, the box that still looks like the track wins. The second round
    (weak, often half-hidden boxes) and track creation are ByteTrack's own. Relies on
    ``trackers`` 2.6's ``update`` calling ``_get_associated_indices`` once per round,
    first for every track against the confident boxes. Colours only rank the
    candidates: a pair is still accepted on its box overlap alone (colour can change
    which pair wins, never reject a pair that overlaps enough).
    """

    tracker_id = "cctrace-bytetrack-appearance"
    """Registered under its own name (the subclass would otherwise replace "bytetrack")."""
    search_space: ClassVar[dict[str, dict[str, Any]]] = {}
    """Not tuned by the library's tuner."""

    def __init__(self, weight: float, **options: Any) -> None:
        super().__init__(**options)
        self.appearance_weight = weight
        self._descs: Descriptors | None = None
        self._round = 0
        self._last_confidences = np.zeros(0)

    def update_with(self, detections: Any, descriptors: Descriptors) -> Any:
        """``update`` with one appearance descriptor per detection row."""
        self._descs, self._round = descriptors, 0
        try:
            return self.update(detections)
        finally:
            self._descs = None

    def update(self, detections: Any, *args: Any, **kwargs: Any) -> Any:
        conf = detections.confidence
        n = len(detections)
        self._last_confidences = np.ones(n) if conf is None else np.asarray(conf)
        return super().update(detections, *args, **kwargs)

    def _get_associated_indices(
        self, similarity_matrix: np.ndarray, min_similarity_thresh: float
    ) -> tuple[list[tuple[int, int]], list[int], list[int]]:
        descs = self._descs
        first = self._round == 0
        self._round += 1
        if descs is None or not first or similarity_matrix.size == 0:
            return super()._get_associated_indices(similarity_matrix, min_similarity_thresh)
        cols = np.nonzero(self._last_confidences >= self.high_conf_det_threshold)[0]
        adjusted = similarity_matrix.copy()
        for row, track in enumerate(self.tracks):
            ref = getattr(track, "appearance", None)
            if ref is not None:
                far = distances(ref[None, :], descs[cols])[0]
                adjusted[row] -= self.appearance_weight * far
        matched, lost, unmatched = _assign(adjusted, similarity_matrix, min_similarity_thresh)
        for row, col in matched:
            track = self.tracks[row]
            new = descs[cols[col]]
            ref = getattr(track, "appearance", None)
            track.appearance = new if ref is None else blend(ref, new, APPEARANCE_KEEP)  # type: ignore[attr-defined]
        return matched, lost, unmatched

    def _spawn_new_tracks(
        self,
        detection_boxes: np.ndarray,
        confidences: np.ndarray,
        unmatched_high_local: list[int],
        high_indices: np.ndarray,
        out_det_indices: list[int],
        out_tracker_ids: list[int],
    ) -> None:
        before = len(self.tracks)
        super()._spawn_new_tracks(
            detection_boxes,
            confidences,
            unmatched_high_local,
            high_indices,
            out_det_indices,
            out_tracker_ids,
        )
        if self._descs is None:
            return
        spawned = [
            int(high_indices[i])
            for i in unmatched_high_local
            if float(confidences[int(high_indices[i])]) >= self.track_activation_threshold
        ]
        for track, row in zip(self.tracks[before:], spawned, strict=False):
            track.appearance = self._descs[row]  # type: ignore[attr-defined]


def _assign(
    ranking: np.ndarray, overlap: np.ndarray, min_overlap: float
) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Best one-to-one assignment by ``ranking``; pairs kept where ``overlap`` is at least
    ``min_overlap``: (matched (row, col), unmatched rows, unmatched cols), sorted."""
    rows_left = set(range(ranking.shape[0]))
    cols_left = set(range(ranking.shape[1]))
    matched: list[tuple[int, int]] = []
    if ranking.size:
        for row, col in zip(*linear_sum_assignment(ranking, maximize=True), strict=True):
            if overlap[row, col] >= min_overlap:
                matched.append((int(row), int(col)))
                rows_left.discard(int(row))
                cols_left.discard(int(col))
    return matched, sorted(rows_left), sorted(cols_left)
