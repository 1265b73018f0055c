"""Per-camera multi-object tracking with cctrace's own ByteTrack (:mod:`.bytetrack`).

One ``PersonTracker`` per camera: its state belongs to the instance and is explicit
data (:meth:`PersonTracker.to_state`), so an interrupted ingest resumes with the same
track ids.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cctrace.tracking.appearance import describe
from cctrace.tracking.bytetrack import AppearanceByteTrack, ByteTrack
from cctrace.types import Detections

TRACKER_TYPES = ("bytetrack",)
REMOVED_TRACKER_TYPES = ("ocsort", "sort")
"""Offered while cctrace used the ``trackers`` library; ByteTrack replaces them."""
APPEARANCE_WEIGHT = 0.0
"""Default of ByteTrack's ``appearance_weight`` option: its first round ranks matches by
IoU minus this times the appearance distance (0 = boxes only). Measured with YOLOv3-tiny
and the post-processing, ranking only (a pair is accepted on IoU alone):
PETS S2L1 (tuned on) MOTA / IDF1 / switches 0.875 / 0.843 / 13 at 0 and 0.3, 0.877 / 0.833
/ 13 at 0.5, 0.874 / 0.832 / 13 at 1.0; PETS S3-MF1 (held out) 0.858 / 0.908 / 2 at 0, 0.3
and 0.5, 0.900 / 0.940 / 1 at 1.0. As a penalty that could also reject a pair (IoU minus
the penalty under ByteTrack's 0.1), S2L1 IDF1 fell to 0.832-0.834 at 0.15-1.0. Off, since
it lowers IDF1 on S2L1; ``ingest.appearance_weight`` turns it on."""
HIGH_CONFIDENCE = 0.8
"""ByteTrack's first-round detection score (see :func:`make_bytetrack`), tuned with the
default YOLOv3-tiny detector. A person detector that scores people on another scale
declares its own (``tracker_high_confidence``, see
:func:`cctrace.vision.person_detector_tracker_high_confidence`)."""
ACTIVATION = 0.4
"""Lowest detection score that starts a track."""
OPTION_NAMES = frozenset(
    {
        "track_activation_threshold",
        "high_conf_det_threshold",
        "minimum_consecutive_frames",
        "minimum_iou_threshold",
        "lost_track_buffer",
        "frame_rate",
        "appearance_weight",
    }
)
"""Options ``params`` may set."""


def check_tracker_kind(kind: str) -> None:
    """ValueError naming the replacement for a tracker type cctrace no longer has."""
    if kind in REMOVED_TRACKER_TYPES:
        raise ValueError(
            f"tracker {kind!r} was removed with the `trackers` library; cctrace has its own "
            "ByteTrack: set ingest.tracker: bytetrack (or leave it out)"
        )
    if kind not in TRACKER_TYPES:
        raise ValueError(f"unknown tracker {kind!r}; choose one of {', '.join(TRACKER_TYPES)}")


def make_bytetrack(options: dict[str, Any]) -> ByteTrack:
    """cctrace's ByteTrack: ``options`` over cctrace's defaults (appearance variant when
    ``appearance_weight`` > 0)."""
    unknown = sorted(set(options) - OPTION_NAMES)
    if unknown:
        raise ValueError(f"unknown ByteTrack option(s) {unknown}; known: {sorted(OPTION_NAMES)}")
    options = dict(options)
    options.setdefault("track_activation_threshold", ACTIVATION)
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
    return ByteTrack(**options)


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
        check_tracker_kind(kind)
        self.kind = kind
        self.frame_rate = frame_rate
        # lost_track_buffer counts frames at 30 fps; ByteTrack scales it by frame_rate / 30.
        buffer = max(1, round(lost_after_s * 30))
        options: dict[str, Any] = {"lost_track_buffer": buffer, "frame_rate": frame_rate}
        options.update(params or {})
        self._tracker = make_bytetrack(options)

    @property
    def high_confidence(self) -> float:
        """ByteTrack's first-round detection score: boxes at or above it are matched
        first and may start tracks."""
        return self._tracker.high_conf_det_threshold

    @property
    def frames_kept_lost(self) -> int:
        """Analysed frames a lost track survives."""
        return self._tracker.maximum_frames_without_update

    @property
    def bytetrack(self) -> ByteTrack:
        """The ByteTrack instance (plain or :class:`AppearanceByteTrack`)."""
        return self._tracker

    def drop_tracks(self) -> None:
        """Forget every track (a shot cut or recording gap): the next boxes start new ones.

        Ids keep counting up, so a track after the cut never reuses an earlier id.
        """
        self._tracker.drop_tracks()

    def update(self, detections: Detections, image: np.ndarray | None = None) -> Detections:
        """Detections of this frame with ``tracker_id`` set (-1 = not yet confirmed).

        Rows keep the input order; boxes are the detector's boxes. With ``image`` (the
        frame) and ``appearance_weight`` > 0, ByteTrack's box overlap is penalised by how
        different each box's colours are from the track's (:class:`AppearanceByteTrack`).
        """
        tracker = self._tracker
        descriptors = None
        if tracker.uses_appearance and image is not None and len(detections):
            descriptors = describe(image, detections.xyxy)
        ids = tracker.update(detections.xyxy, detections.confidence, descriptors)
        return detections.with_tracker_id(ids)

    def to_state(self) -> dict[str, Any]:
        """Plain numbers and arrays: kind, rate and the ByteTrack state."""
        return {
            "kind": self.kind,
            "frame_rate": self.frame_rate,
            "bytetrack": self._tracker.to_state(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> PersonTracker:
        """The tracker :meth:`to_state` described."""
        check_tracker_kind(str(state["kind"]))
        made = cls.__new__(cls)
        made.kind = str(state["kind"])
        made.frame_rate = float(state["frame_rate"])
        made._tracker = ByteTrack.from_state(state["bytetrack"])
        return made
