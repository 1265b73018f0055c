"""ByteTrack (Zhang et al., 2022): a Kalman filter per track and two association rounds.

Ported from the ByteTrack of ``trackers`` 2.6.1 (``trackers/core/bytetrack``,
``trackers/utils/kalman_filter.py``, ``motion_models.py``, ``state_representations.py``;
supervision's ``box_iou_batch`` for the overlap), fixed-rate mode only (one step per
analysed frame, which is how cctrace always called it), with the same arithmetic in the
same order, so it gives the same ids frame by frame (``tests/tracking/test_bytetrack_port.py``
checks it against the library on real PETS detections). Original notice::

    Trackers
    Copyright (c) 2026 Roboflow. All Rights Reserved.
    Licensed under the Apache License, Version 2.0 [see LICENSE for details]

Changes from the original: it works on cctrace's :class:`~cctrace.types.Detections`
and returns ids in input row order; the appearance variant (:class:`AppearanceByteTrack`)
is cctrace's own; the state is explicit data (:meth:`ByteTrack.to_state`,
:meth:`ByteTrack.from_state`), plain numbers and numpy arrays, for checkpoints.

How it works: every track's box ``[x1, y1, x2, y2]`` and its velocity are a constant-
velocity Kalman state (8 numbers). Each frame all tracks are predicted one step; boxes at
or above ``high_conf_det_threshold`` are matched to the predictions first (Hungarian
assignment on IoU, pairs under ``minimum_iou_threshold`` refused); the weaker boxes then
only extend tracks still unmatched. An unmatched confident box at or above
``track_activation_threshold`` starts a track, which gets an id once it has been matched
``minimum_consecutive_frames`` frames in a row (until then its boxes get -1). A track
unmatched for more than ``lost_track_buffer`` 30-fps frames (scaled to ``frame_rate``)
is dropped; ids keep counting up, also across :meth:`ByteTrack.drop_tracks`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from cctrace.tracking.appearance import Descriptors, blend, distances

F64 = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]
Matches = tuple[list[tuple[int, int]], list[int], list[int]]
"""(matched (track row, box column), unmatched track rows, unmatched box columns)."""

STATE_DIM = 8
"""Kalman state: x1, y1, x2, y2 and their velocities."""
MEASURE_DIM = 4
TRANSITION = np.eye(STATE_DIM, dtype=np.float64)
TRANSITION[:4, 4:] = np.eye(4)
"""Constant velocity, one frame per step."""
OBSERVATION = np.eye(MEASURE_DIM, STATE_DIM, dtype=np.float64)
PROCESS_NOISE = np.eye(STATE_DIM, dtype=np.float64) * 0.01
"""The original ByteTrack tuning (identity x 0.01)."""
MEASUREMENT_NOISE = np.eye(MEASURE_DIM, dtype=np.float64) * 0.1
"""The original ByteTrack tuning (identity x 0.1)."""
_IDENTITY = np.eye(STATE_DIM, dtype=np.float64)

APPEARANCE_KEEP = 0.8
"""A track's appearance is a running average: this much old, the rest the new box."""


@dataclass
class Track:
    """One track: its Kalman state and bookkeeping (a plain record, see ``to_state``)."""

    mean: F64
    """(8, 1) state vector."""
    covariance: F64
    """(8, 8) state covariance."""
    tracker_id: int = -1
    """-1 until the track is confirmed."""
    time_since_update: int = 0
    """Predict steps since the last matched box."""
    age: int = 0
    consecutive: int = 1
    """Matched frames in a row (the box that started it counts)."""
    appearance: Descriptors | None = None
    """Running colour descriptor (:class:`AppearanceByteTrack` only)."""

    @classmethod
    def start(cls, box: F32) -> Track:
        """A new track at ``box`` (no velocity, identity covariance)."""
        mean = np.zeros((STATE_DIM, 1), dtype=np.float64)
        mean[:MEASURE_DIM] = np.asarray(box, dtype=np.float64).reshape((MEASURE_DIM, 1))
        return cls(mean=mean, covariance=np.eye(STATE_DIM, dtype=np.float64))

    def box(self) -> F64:
        """The current estimate ``[x1, y1, x2, y2]``."""
        return self.mean[:MEASURE_DIM].reshape((MEASURE_DIM,))

    def predict(self) -> None:
        """Advance one frame; a track missed last frame loses its consecutive count."""
        self.mean = TRANSITION @ self.mean
        self.covariance = TRANSITION @ self.covariance @ TRANSITION.T + PROCESS_NOISE
        if self.time_since_update > 0:
            self.consecutive = 0
        self.time_since_update += 1
        self.age += 1

    def update(self, box: F32) -> None:
        """Correct with a matched box (Joseph-form covariance update)."""
        z = np.asarray(box, dtype=np.float64).reshape((MEASURE_DIM, 1))
        innovation = z - OBSERVATION @ self.mean
        pht = self.covariance @ OBSERVATION.T
        innovation_cov = OBSERVATION @ pht + MEASUREMENT_NOISE
        gain = pht @ np.linalg.inv(innovation_cov)
        self.mean = self.mean + gain @ innovation
        i_kh = _IDENTITY - gain @ OBSERVATION
        self.covariance = i_kh @ self.covariance @ i_kh.T + gain @ MEASUREMENT_NOISE @ gain.T
        self.time_since_update = 0
        self.consecutive += 1

    def to_state(self) -> dict[str, Any]:
        """Plain numbers and arrays (:meth:`from_state` gives the same track back)."""
        return {
            "mean": self.mean.copy(),
            "covariance": self.covariance.copy(),
            "tracker_id": self.tracker_id,
            "time_since_update": self.time_since_update,
            "age": self.age,
            "consecutive": self.consecutive,
            "appearance": None if self.appearance is None else self.appearance.copy(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Track:
        """The track :meth:`to_state` described; ValueError on a malformed state."""
        mean = np.asarray(state["mean"], dtype=np.float64)
        covariance = np.asarray(state["covariance"], dtype=np.float64)
        if mean.shape != (STATE_DIM, 1) or covariance.shape != (STATE_DIM, STATE_DIM):
            raise ValueError(f"track state has shapes {mean.shape}, {covariance.shape}")
        appearance = state["appearance"]
        return cls(
            mean=mean,
            covariance=covariance,
            tracker_id=int(state["tracker_id"]),
            time_since_update=int(state["time_since_update"]),
            age=int(state["age"]),
            consecutive=int(state["consecutive"]),
            appearance=None if appearance is None else np.asarray(appearance, np.float32),
        )


def box_iou(boxes_a: npt.ArrayLike, boxes_b: npt.ArrayLike) -> F32:
    """(N, M) IoU of xyxy boxes, computed in float64 and returned as float32 (0 where
    the union is empty), as supervision's ``box_iou_batch``; ValueError on NaN/inf."""
    a = np.asarray(boxes_a).reshape(-1, 4)
    b = np.asarray(boxes_b).reshape(-1, 4)
    if not np.isfinite(a).all() or not np.isfinite(b).all():
        raise ValueError("boxes contain non-finite values (NaN or inf)")
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), dtype=np.float32)
    ax1, ay1, ax2, ay2 = a.T.astype(np.float64)
    bx1, by1, bx2, by2 = b.T.astype(np.float64)
    inter_w = np.minimum(ax2[:, None], bx2[None, :]) - np.maximum(ax1[:, None], bx1[None, :])
    inter_h = np.minimum(ay2[:, None], by2[None, :]) - np.maximum(ay1[:, None], by1[None, :])
    np.clip(inter_w, 0.0, None, out=inter_w)
    np.clip(inter_h, 0.0, None, out=inter_h)
    inter = inter_w * inter_h
    area_a = (ax2 - ax1) * (ay2 - ay1)
    area_b = (bx2 - bx1) * (by2 - by1)
    union = area_a[:, None] + area_b[None, :] - inter
    out = np.zeros_like(inter, dtype=np.float32)
    np.divide(inter, union, out=out, where=union > 0)
    return out


def assign(ranking: npt.NDArray[Any], overlap: npt.NDArray[Any], min_overlap: float) -> Matches:
    """Best one-to-one assignment by ``ranking`` (rows: tracks, columns: boxes); a pair is
    kept where ``overlap`` is at least ``min_overlap``. Unmatched lists are sorted."""
    matched: list[tuple[int, int]] = []
    rows_left = set(range(ranking.shape[0]))
    cols_left = set(range(ranking.shape[1]))
    if ranking.shape[0] > 0 and ranking.shape[1] > 0:
        for row, col in zip(*linear_sum_assignment(ranking, maximize=True), strict=True):
            if overlap[row, col] >= min_overlap:
                matched.append((int(row), int(col)))
                rows_left.discard(int(row))
                cols_left.discard(int(col))
    return matched, sorted(rows_left), sorted(cols_left)


def frames_kept_lost(lost_track_buffer: int, frame_rate: float) -> int:
    """Analysed frames a lost track survives: ``lost_track_buffer`` is in frames at 30
    fps, scaled to ``frame_rate`` and rounded up (at least 1; 0 stays 0)."""
    if lost_track_buffer < 0:
        raise ValueError(f"lost_track_buffer must be >= 0, got {lost_track_buffer}")
    if not math.isfinite(frame_rate) or frame_rate <= 0:
        raise ValueError(f"frame_rate must be a finite positive number, got {frame_rate}")
    if lost_track_buffer == 0:
        return 0
    return max(1, math.ceil(frame_rate / 30.0 * lost_track_buffer))


class ByteTrack:
    """ByteTrack over one camera's analysed frames (see the module docstring).

    The defaults are ``trackers`` 2.6.1's; cctrace's settings are in
    :mod:`cctrace.tracking.tracker`.
    """

    kind = "bytetrack"
    uses_appearance = False
    """Whether tracks keep a colour descriptor (:class:`AppearanceByteTrack`)."""

    def __init__(
        self,
        lost_track_buffer: int = 30,
        frame_rate: float = 30.0,
        track_activation_threshold: float = 0.7,
        minimum_consecutive_frames: int = 2,
        minimum_iou_threshold: float = 0.1,
        high_conf_det_threshold: float = 0.6,
    ) -> None:
        self.lost_track_buffer = int(lost_track_buffer)
        self.frame_rate = float(frame_rate)
        self.maximum_frames_without_update = frames_kept_lost(self.lost_track_buffer, frame_rate)
        self.track_activation_threshold = float(track_activation_threshold)
        self.minimum_consecutive_frames = int(minimum_consecutive_frames)
        self.minimum_iou_threshold = float(minimum_iou_threshold)
        self.high_conf_det_threshold = float(high_conf_det_threshold)
        self.tracks: list[Track] = []
        self.next_id = 0

    def options(self) -> dict[str, Any]:
        """The constructor arguments (part of :meth:`to_state`)."""
        return {
            "lost_track_buffer": self.lost_track_buffer,
            "frame_rate": self.frame_rate,
            "track_activation_threshold": self.track_activation_threshold,
            "minimum_consecutive_frames": self.minimum_consecutive_frames,
            "minimum_iou_threshold": self.minimum_iou_threshold,
            "high_conf_det_threshold": self.high_conf_det_threshold,
        }

    def drop_tracks(self) -> None:
        """Forget every track (a shot cut); ids keep counting up."""
        self.tracks = []

    def update(
        self,
        xyxy: npt.ArrayLike,
        confidence: npt.ArrayLike,
        descriptors: Descriptors | None = None,
    ) -> npt.NDArray[np.int64]:
        """Track one frame's boxes; their ids in input order (-1: no confirmed track).

        ``descriptors`` (one row per box) is used by :class:`AppearanceByteTrack` only.
        """
        boxes = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
        conf = np.asarray(confidence, dtype=np.float32).reshape(-1)
        if len(conf) != len(boxes):
            raise ValueError(f"{len(boxes)} boxes but {len(conf)} confidences")
        ids = np.full(len(boxes), -1, dtype=np.int64)
        if not self.tracks and len(boxes) == 0:
            return ids
        for track in self.tracks:
            track.predict()
        high = np.where(conf >= self.high_conf_det_threshold)[0]
        low = np.where(~(conf >= self.high_conf_det_threshold))[0]
        predicted = np.array([t.box() for t in self.tracks]) if self.tracks else np.empty((0, 4))
        # Round 1: confident boxes against every track.
        iou = box_iou(predicted, boxes[high])
        matched, unmatched_tracks, unmatched_high = self._associate_confident(
            iou, high, descriptors
        )
        for row, col in matched:
            ids[high[col]] = self._matched(self.tracks[row], boxes[high[col]])
        # Round 2: weak boxes only extend tracks left unmatched.
        remaining = [self.tracks[i] for i in unmatched_tracks]
        iou = box_iou(
            predicted[unmatched_tracks] if unmatched_tracks else np.empty((0, 4)), boxes[low]
        )
        matched, _, _ = assign(iou, iou, self.minimum_iou_threshold)
        for row, col in matched:
            ids[low[col]] = self._matched(remaining[row], boxes[low[col]])
        # Unmatched confident boxes start tracks (their ids stay -1 this frame).
        for col in unmatched_high:
            index = int(high[col])
            if float(conf[index]) >= self.track_activation_threshold:
                track = Track.start(boxes[index])
                if descriptors is not None and self.uses_appearance:
                    track.appearance = descriptors[index]
                self.tracks.append(track)
        self.tracks = [t for t in self.tracks if self._alive(t)]
        return ids

    def _associate_confident(
        self, iou: F32, high: npt.NDArray[np.intp], descriptors: Descriptors | None
    ) -> Matches:
        return assign(iou, iou, self.minimum_iou_threshold)

    def _matched(self, track: Track, box: F32) -> int:
        track.update(box)
        if track.consecutive >= self.minimum_consecutive_frames and track.tracker_id == -1:
            track.tracker_id = self.next_id
            self.next_id += 1
        return track.tracker_id

    def _alive(self, track: Track) -> bool:
        mature = track.tracker_id != -1 or track.consecutive >= self.minimum_consecutive_frames
        active = track.time_since_update == 0
        within = track.time_since_update <= self.maximum_frames_without_update
        return within and (mature or active)

    def to_state(self) -> dict[str, Any]:
        """Options, the id counter and every track, as plain numbers and arrays."""
        return {
            "kind": self.kind,
            "options": self.options(),
            "next_id": self.next_id,
            "tracks": [t.to_state() for t in self.tracks],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ByteTrack:
        """The tracker :meth:`to_state` described (the same class: plain or appearance)."""
        kind = state.get("kind")
        if kind == AppearanceByteTrack.kind:
            made: ByteTrack = AppearanceByteTrack(**state["options"])
        elif kind == ByteTrack.kind:
            made = ByteTrack(**state["options"])
        else:
            raise ValueError(f"not a ByteTrack state (kind {kind!r})")
        made.next_id = int(state["next_id"])
        made.tracks = [Track.from_state(t) for t in state["tracks"]]
        return made


class AppearanceByteTrack(ByteTrack):
    """ByteTrack whose first (confident-box) round also compares colours.

    Each track carries a running part-wise colour histogram
    (:mod:`cctrace.tracking.appearance`); in the first round the IoU of a track and a box
    is lowered by ``appearance_weight`` times their appearance distance, so when two
    people cross, the box that still looks like the track wins. Colours only rank the
    candidates: a pair is still accepted on its box overlap alone. The second round
    (weak boxes) and track creation are ByteTrack's own. Without descriptors (no image)
    a frame is plain ByteTrack.
    """

    kind = "bytetrack-appearance"
    uses_appearance = True

    def __init__(self, appearance_weight: float, **options: Any) -> None:
        super().__init__(**options)
        self.appearance_weight = float(appearance_weight)

    def options(self) -> dict[str, Any]:
        return {**super().options(), "appearance_weight": self.appearance_weight}

    def _associate_confident(
        self, iou: F32, high: npt.NDArray[np.intp], descriptors: Descriptors | None
    ) -> Matches:
        if descriptors is None or iou.size == 0:
            return assign(iou, iou, self.minimum_iou_threshold)
        adjusted = iou.copy()
        for row, track in enumerate(self.tracks):
            if track.appearance is not None:
                far = distances(track.appearance[None, :], descriptors[high])[0]
                adjusted[row] -= self.appearance_weight * far
        matched, lost, unmatched = assign(adjusted, iou, self.minimum_iou_threshold)
        for row, col in matched:
            track = self.tracks[row]
            new = descriptors[high[col]]
            track.appearance = (
                new if track.appearance is None else blend(track.appearance, new, APPEARANCE_KEEP)
            )
        return matched, lost, unmatched
