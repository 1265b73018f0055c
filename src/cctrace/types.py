"""Frozen containers passed between pipeline stages.

Every stage takes and returns these, so each detection can be traced back to a
camera and an instant (``Frame``) and results are added without mutation
(``Detections.with_*``), like supervision's ``Detections``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
Image = npt.NDArray[np.uint8]
"""A BGR image, HxWx3 uint8 (OpenCV convention)."""


class MaskStatus(StrEnum):
    """Whether a person wears a face mask, as voted over a tracklet."""

    WORN = "worn"
    NOT_WORN = "not_worn"
    UNKNOWN = "unknown"


class SightingStatus(StrEnum):
    """How a search hit is classified against the shipped thresholds."""

    ACCEPTED = "accepted"
    NEEDS_REVIEW = "needs_review"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Frame:
    """One decoded video frame, tied to its camera and a UTC instant."""

    camera_id: str
    frame_index: int
    """Index of the frame in its source file (0-based, by presentation time)."""
    timestamp: datetime
    """UTC wall-clock time of the frame (footage start + pts)."""
    offset_s: float
    """Seconds from the start of the footage file."""
    image: Image

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


def _as_float(a: Any, cols: int | None = None) -> FloatArray:
    arr = np.asarray(a, dtype=np.float32)
    if cols is not None:
        arr = arr.reshape(-1, cols)
    return arr


@dataclass(frozen=True)
class Detections:
    """Boxes found in one image.

    ``xyxy`` is (N, 4) pixels; ``confidence`` (N,); ``class_id`` (N,);
    ``tracker_id`` (N,) with -1 where untracked; ``data`` holds extra per-box
    arrays of length N (for example face landmarks).
    """

    xyxy: FloatArray
    confidence: FloatArray
    class_id: IntArray
    tracker_id: IntArray
    data: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.xyxy)
        if self.xyxy.shape != (n, 4):
            raise ValueError(f"xyxy must be (N, 4), got {self.xyxy.shape}")
        for name in ("confidence", "class_id", "tracker_id"):
            arr = getattr(self, name)
            if arr.shape != (n,):
                raise ValueError(f"{name} must be ({n},), got {arr.shape}")
        for key, arr in self.data.items():
            if len(arr) != n:
                raise ValueError(f"data[{key!r}] has {len(arr)} rows, expected {n}")

    @classmethod
    def create(
        cls,
        xyxy: Any,
        confidence: Any,
        class_id: Any | None = None,
        tracker_id: Any | None = None,
        data: dict[str, np.ndarray] | None = None,
    ) -> Detections:
        """Build from array-likes, filling defaults (class 0, untracked)."""
        boxes = _as_float(xyxy, 4)
        n = len(boxes)
        return cls(
            xyxy=boxes,
            confidence=_as_float(confidence).reshape(n),
            class_id=(
                np.zeros(n, np.int64) if class_id is None else np.asarray(class_id, np.int64)
            ),
            tracker_id=(
                np.full(n, -1, np.int64) if tracker_id is None else np.asarray(tracker_id, np.int64)
            ),
            data=dict(data or {}),
        )

    @classmethod
    def empty(cls) -> Detections:
        return cls.create(np.zeros((0, 4)), np.zeros(0))

    def __len__(self) -> int:
        return len(self.xyxy)

    def filter(self, keep: npt.NDArray[np.bool_] | IntArray) -> Detections:
        """Rows selected by a boolean mask or an index array."""
        return Detections(
            xyxy=self.xyxy[keep],
            confidence=self.confidence[keep],
            class_id=self.class_id[keep],
            tracker_id=self.tracker_id[keep],
            data={k: v[keep] for k, v in self.data.items()},
        )

    def with_tracker_id(self, tracker_id: Any) -> Detections:
        return replace(self, tracker_id=np.asarray(tracker_id, np.int64).reshape(len(self)))

    def with_data(self, **arrays: np.ndarray) -> Detections:
        return replace(self, data={**self.data, **arrays})

    @property
    def foot_points(self) -> FloatArray:
        """Bottom-centre of each box (where a person touches the ground), (N, 2)."""
        x = (self.xyxy[:, 0] + self.xyxy[:, 2]) / 2
        return np.stack([x, self.xyxy[:, 3]], axis=1).astype(np.float32)


@dataclass(frozen=True)
class Face:
    """One detected face in an image.

    ``raw`` is the detector's row (YuNet: box x, y, w, h, 5 landmarks, score),
    which SFace's alignment needs.
    """

    xyxy: tuple[float, float, float, float]
    score: float
    landmarks: tuple[tuple[float, float], ...]
    raw: FloatArray

    @property
    def width(self) -> float:
        return self.xyxy[2] - self.xyxy[0]

    @property
    def height(self) -> float:
        return self.xyxy[3] - self.xyxy[1]


@dataclass(frozen=True)
class FaceSample:
    """A face seen in a tracklet: its embedding, quality and mask probability."""

    frame_index: int
    timestamp: datetime
    embedding: FloatArray
    """L2-normalised embedding."""
    quality: float
    """0..1; higher is better (size, sharpness, frontal pose)."""
    mask_probability: float | None
    """Probability that a mask is worn, or None when not classified."""
    crop: Image


@dataclass(frozen=True)
class TrackPoint:
    """A tracklet's position in one analysed frame."""

    frame_index: int
    timestamp: datetime
    xyxy: tuple[float, float, float, float]
    ground_xy: tuple[float, float]
    """Foot point on the ground plane, metres."""
    confidence: float


@dataclass(frozen=True)
class Snapshot:
    """A picture of a tracklet's person, already redacted: every other face blurred."""

    frame_index: int
    timestamp: datetime
    image: Image
    """The crop around the person (with context), other people's faces blurred."""
    subject_xyxy: tuple[float, float, float, float]
    """The person's box inside ``image``."""


@dataclass(frozen=True)
class BodyAppearance:
    """A tracklet's body appearance embedding and the model that made it."""

    model: str
    """The body embedder's type; embeddings of different models are not comparable."""
    vector: FloatArray
    """L2-normalised; cosine similarity."""
    samples: int = 1
    """Clean views averaged into it."""


@dataclass(frozen=True)
class Tracklet:
    """One person, one camera, one continuous track."""

    camera_id: str
    track_id: int
    points: tuple[TrackPoint, ...]
    faces: tuple[FaceSample, ...] = ()
    mask_status: MaskStatus = MaskStatus.UNKNOWN
    mask_votes: tuple[int, int] = (0, 0)
    """(worn, not worn) face votes."""
    snapshot: Snapshot | None = None
    body: BodyAppearance | None = None
    """Mean body appearance of its clean views, when it had any."""

    @property
    def start(self) -> datetime:
        return self.points[0].timestamp

    @property
    def end(self) -> datetime:
        return self.points[-1].timestamp


@dataclass(frozen=True)
class Encounter:
    """Two co-present tracklets in one camera and how close they came."""

    camera_id: str
    track_a: int
    track_b: int
    start: datetime
    end: datetime
    seconds_within: dict[float, float]
    """Distance band in metres -> seconds spent within it, e.g. {1.0: 12.0, 2.0: 30.0}."""
    min_distance_m: float
    min_distance_at: datetime
