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


YUNET_ROW_LEN = 15
"""A YuNet row: box x, y, w, h, five landmark (x, y) pairs, score."""


def _read_only(arr: np.ndarray) -> np.ndarray:
    out = np.array(arr, copy=True)
    out.setflags(write=False)
    return out


@dataclass(frozen=True)
class Face:
    """One detected face in an image: box, score and five landmarks (plain tuples).

    Landmarks are right eye, left eye, nose tip, right and left mouth corners.
    Hashable and comparable (no arrays inside); :attr:`raw` builds the YuNet row
    SFace's alignment takes.
    """

    xyxy: tuple[float, float, float, float]
    score: float
    landmarks: tuple[tuple[float, float], ...]

    @property
    def width(self) -> float:
        return self.xyxy[2] - self.xyxy[0]

    @property
    def height(self) -> float:
        return self.xyxy[3] - self.xyxy[1]

    @property
    def centre(self) -> tuple[float, float]:
        return ((self.xyxy[0] + self.xyxy[2]) / 2, (self.xyxy[1] + self.xyxy[3]) / 2)

    @property
    def raw(self) -> FloatArray:
        """The YuNet row (x, y, w, h, 5 landmark xy pairs, score), read-only."""
        x1, y1, x2, y2 = self.xyxy
        marks = [v for point in self.landmarks for v in point]
        if len(marks) != 10:
            marks = (marks + [0.0] * 10)[:10]
        row = np.array([x1, y1, x2 - x1, y2 - y1, *marks, self.score], np.float32)
        row.setflags(write=False)
        return row


@dataclass(frozen=True)
class FrameRef:
    """Which frame something was found in (no pixels: comparable and cheap to keep)."""

    camera_id: str
    frame_index: int
    width: int = 0
    """Frame width in pixels (0: unknown)."""
    height: int = 0
    """Frame height in pixels (0: unknown)."""


@dataclass(frozen=True, eq=False)
class Faces:
    """The faces found in one frame, as read-only arrays (like :class:`Detections`).

    ``xyxy`` (N, 4) frame pixels, ``landmarks`` (N, 5, 2), ``score`` (N,),
    ``embedding`` (N, D) L2-normalised or None, ``frame`` the frame they were found
    in (or None). Every array is a private read-only copy, so a ``Faces`` cannot
    change after it is built; ``==`` compares contents and never raises.
    Iterating or indexing gives :class:`Face` values.
    """

    xyxy: FloatArray
    landmarks: FloatArray
    score: FloatArray
    embedding: FloatArray | None = None
    frame: FrameRef | None = None

    def __post_init__(self) -> None:
        xyxy = np.asarray(self.xyxy, np.float32).reshape(-1, 4)
        n = len(xyxy)
        marks = np.asarray(self.landmarks, np.float32)
        if marks.size == 0 and n == 0:
            marks = np.zeros((0, 5, 2), np.float32)
        if marks.shape != (n, 5, 2):
            raise ValueError(f"landmarks must be ({n}, 5, 2), got {marks.shape}")
        score = np.asarray(self.score, np.float32).reshape(-1)
        if score.shape != (n,):
            raise ValueError(f"score must be ({n},), got {score.shape}")
        object.__setattr__(self, "xyxy", _read_only(xyxy))
        object.__setattr__(self, "landmarks", _read_only(marks))
        object.__setattr__(self, "score", _read_only(score))
        if self.embedding is not None:
            emb = np.asarray(self.embedding, np.float32)
            if emb.ndim != 2 or len(emb) != n:
                raise ValueError(f"embedding must be ({n}, D), got {emb.shape}")
            object.__setattr__(self, "embedding", _read_only(emb))

    @classmethod
    def empty(cls, frame: FrameRef | None = None) -> Faces:
        """No faces."""
        return cls.boxes_only(np.zeros((0, 4), np.float32), frame=frame)

    @classmethod
    def boxes_only(
        cls, xyxy: Any, score: Any | None = None, frame: FrameRef | None = None
    ) -> Faces:
        """Faces known by their boxes alone (landmarks zero, score 1 unless given)."""
        boxes = np.asarray(xyxy, np.float32).reshape(-1, 4)
        n = len(boxes)
        scores = np.ones(n, np.float32) if score is None else np.asarray(score, np.float32)
        return cls(boxes, np.zeros((n, 5, 2), np.float32), scores, frame=frame)

    @classmethod
    def from_faces(cls, faces: Any, frame: FrameRef | None = None) -> Faces:
        """From a sequence of :class:`Face` (for example a detector's output)."""
        items = list(faces)
        if not items:
            return cls.empty(frame)
        return cls(
            np.array([f.xyxy for f in items], np.float32),
            np.array([f.landmarks for f in items], np.float32).reshape(-1, 5, 2),
            np.array([f.score for f in items], np.float32),
            frame=frame,
        )

    @classmethod
    def from_yunet_rows(cls, rows: Any, frame: FrameRef | None = None) -> Faces:
        """From YuNet's (N, 15) rows."""
        arr = np.asarray(rows, np.float32).reshape(-1, YUNET_ROW_LEN)
        xyxy = np.concatenate([arr[:, :2], arr[:, :2] + arr[:, 2:4]], axis=1)
        return cls(xyxy, arr[:, 4:14].reshape(-1, 5, 2), arr[:, 14], frame=frame)

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, i: int) -> Face:
        box = self.xyxy[i]
        return Face(
            xyxy=(float(box[0]), float(box[1]), float(box[2]), float(box[3])),
            score=float(self.score[i]),
            landmarks=tuple((float(x), float(y)) for x, y in self.landmarks[i]),
        )

    def __iter__(self) -> Any:
        return (self[i] for i in range(len(self)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Faces):
            return NotImplemented
        if (self.embedding is None) != (other.embedding is None):
            return False
        same = (
            self.frame == other.frame
            and np.array_equal(self.xyxy, other.xyxy)
            and np.array_equal(self.landmarks, other.landmarks)
            and np.array_equal(self.score, other.score)
        )
        if same and self.embedding is not None and other.embedding is not None:
            same = np.array_equal(self.embedding, other.embedding)
        return bool(same)

    __hash__ = None  # type: ignore[assignment]

    @property
    def centres(self) -> FloatArray:
        """Box centres, (N, 2)."""
        return np.stack(
            [(self.xyxy[:, 0] + self.xyxy[:, 2]) / 2, (self.xyxy[:, 1] + self.xyxy[:, 3]) / 2],
            axis=1,
        ).astype(np.float32)

    def yunet_rows(self) -> FloatArray:
        """(N, 15) rows in YuNet's layout (what SFace's ``alignCrop`` takes)."""
        wh = self.xyxy[:, 2:] - self.xyxy[:, :2]
        rows = np.concatenate(
            [self.xyxy[:, :2], wh, self.landmarks.reshape(-1, 10), self.score[:, None]], axis=1
        ).astype(np.float32)
        return rows.reshape(-1, YUNET_ROW_LEN)

    def mapped(self, x0: float, y0: float, scale: float = 1.0) -> Faces:
        """Faces found in a crop at (x0, y0) of the frame, upscaled by ``scale``,
        in frame pixels: ``frame = crop / scale + (x0, y0)``."""
        if scale <= 0:
            raise ValueError(f"scale must be > 0, got {scale}")
        offset = np.array([x0, y0], np.float32)
        xyxy = self.xyxy / scale + np.tile(offset, 2)
        marks = self.landmarks / scale + offset
        return Faces(xyxy, marks, self.score, self.embedding, self.frame)

    def filter(self, keep: Any) -> Faces:
        """Rows selected by a boolean mask or an index array."""
        idx = np.asarray(keep)
        emb = None if self.embedding is None else self.embedding[idx]
        return Faces(self.xyxy[idx], self.landmarks[idx], self.score[idx], emb, self.frame)

    def with_frame(self, frame: FrameRef) -> Faces:
        """The same faces, tied to ``frame``."""
        return replace(self, frame=frame)

    def with_embeddings(self, embedding: Any) -> Faces:
        """The same faces with their embeddings (N, D)."""
        return replace(self, embedding=np.asarray(embedding, np.float32))

    def sorted_by_score(self) -> Faces:
        """Best score first (stable)."""
        return self.filter(np.argsort(-self.score, kind="stable"))

    @staticmethod
    def concat(parts: Any, frame: FrameRef | None = None) -> Faces:
        """Faces of several crops of one frame, in one container (embeddings dropped)."""
        items = [p for p in parts if len(p)]
        if not items:
            return Faces.empty(frame)
        return Faces(
            np.concatenate([p.xyxy for p in items]),
            np.concatenate([p.landmarks for p in items]),
            np.concatenate([p.score for p in items]),
            frame=frame,
        )


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
class LooseFace:
    """A face that no tracked person surely holds (ambiguous, or in nobody's head region).

    Kept so a trace can still find it ("face seen at camera X, time T, box B"), never
    attributed to a person or a tracklet.
    """

    camera_id: str
    frame_index: int
    timestamp: datetime
    xyxy: tuple[float, float, float, float]
    """Face box, frame pixels."""
    score: float
    """Face detector score."""
    quality: float
    """0..1, as :attr:`FaceSample.quality`."""
    embedding: FloatArray
    """L2-normalised embedding."""
    fate: str = "ambiguous"
    """Why nobody holds it: ``ambiguous`` (near several heads, or sharing one) or
    ``no_person`` (in nobody's head region)."""


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
    faces_dropped: int = 0
    """Faces left out because they disagreed with the tracklet's other faces (SFace
    cosine; see :mod:`cctrace.tracking.face_consistency`): a sign of a swapped track."""
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
