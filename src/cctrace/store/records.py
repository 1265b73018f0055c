"""Small frozen records the repository returns (never ORM objects)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

import numpy as np

from cctrace.errors import StoreError
from cctrace.types import FloatArray, IntArray, MaskStatus, SightingStatus


class InvalidInputError(StoreError, ValueError):
    """A value handed to the store is malformed (naive datetime, bad shape, unknown status,
    an encounter naming a tracklet that does not exist, ...)."""


class AlreadyExistsError(StoreError):
    """A record with that key (e.g. a case number) is already stored."""


class FootageStatus(StrEnum):
    """Ingest state of one footage file."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    PARTIAL = "partial"
    """Finished, but some frames or segments could not be decoded."""
    FAILED = "failed"


def parse_footage_status(status: FootageStatus | str) -> FootageStatus:
    """A :class:`FootageStatus` from an enum or its string value."""
    try:
        return FootageStatus(status)
    except ValueError:
        allowed = ", ".join(s.value for s in FootageStatus)
        raise InvalidInputError(
            f"footage status: expected one of {allowed}, got {status!r}"
        ) from None


class CaseStatus(StrEnum):
    """Whether a case is still being worked on."""

    OPEN = "open"
    CLOSED = "closed"


Homography = tuple[tuple[float, float, float], ...]
"""A 3x3 image-to-ground homography, row-major."""


@dataclass(frozen=True)
class CameraRecord:
    """A stored camera."""

    id: str
    name: str
    lat: float | None
    lon: float | None
    x_m: float | None
    y_m: float | None
    homography: Homography | None
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FootageRecord:
    """A stored footage file and its ingest progress."""

    id: int
    camera_id: str
    path: str
    sha256: str
    size: int
    start_time: datetime
    duration_s: float
    fps: float
    status: FootageStatus
    progress_offset_s: float
    checkpoint_state: bytes | None
    error: str | None
    frames_decoded: int
    frames_failed: int
    created_at: datetime
    updated_at: datetime
    start_source: str | None = None
    """Where ``start_time`` came from: config, filename, container or previous (the
    previous file's end); None for files registered before this was recorded."""
    run_owner: str | None = None
    """The process ingesting the file (``host:pid:start``) while it is ``running``."""
    heartbeat_at: datetime | None = None
    """When that process last said it was alive."""


@dataclass(frozen=True)
class FootageFailureRecord:
    """A footage file that could not be registered for ingest, and why."""

    id: int
    camera_id: str
    path: str
    size: int | None
    error: str
    failed_at: datetime


@dataclass(frozen=True)
class TrackletRecord:
    """A stored tracklet (without its points or faces)."""

    id: int
    camera_id: str
    footage_id: int
    track_id: int
    start: datetime
    end: datetime
    n_points: int
    mask_status: MaskStatus
    mask_votes: tuple[int, int]
    """(worn, not worn) face votes."""
    snapshot_path: str | None
    """Absolute path of the redacted snapshot JPEG, or None."""
    best_face_quality: float | None


@dataclass(frozen=True)
class EncounterRecord:
    """An encounter seen from one of its tracklets.

    ``tracklet_id`` is the side that was asked about, ``other_tracklet_id`` the other
    person. An encounter whose both sides were asked about appears twice, once from
    each side.
    """

    id: int
    camera_id: str
    footage_id: int
    tracklet_id: int
    other_tracklet_id: int
    start: datetime
    end: datetime
    seconds_within: dict[float, float]
    """Distance band in metres -> seconds within it, every band the builder computed."""
    min_distance_m: float
    min_distance_at: datetime


@dataclass(frozen=True)
class EmbeddingRecord:
    """A stored face of a tracklet."""

    id: int
    tracklet_id: int
    frame_index: int
    timestamp: datetime
    quality: float
    mask_probability: float | None
    vector: FloatArray
    """L2-normalised float32 embedding (read-only array)."""
    crop_path: str | None
    """Absolute path of the aligned face crop JPEG, or None."""


@dataclass(frozen=True)
class LooseFaceRecord:
    """A stored face that no tracked person surely holds (never a tracklet's)."""

    id: int
    camera_id: str
    footage_id: int
    frame_index: int
    timestamp: datetime
    xyxy: tuple[float, float, float, float]
    """Face box, frame pixels."""
    score: float
    """Face detector score."""
    quality: float
    fate: str
    """``ambiguous`` or ``no_person``."""
    vector: FloatArray
    """L2-normalised float32 embedding (decrypted, read-only)."""


@dataclass(frozen=True)
class EmbeddingBatch:
    """A column-wise chunk of face embeddings, for building the vector index."""

    ids: IntArray
    tracklet_ids: IntArray
    timestamps: np.ndarray
    """float64 epoch seconds."""
    vectors: FloatArray
    """(N, dim) float32."""


class MotRow(NamedTuple):
    """One box in MOTChallenge form; a tuple ``(frame_index, track_id, x, y, w, h,
    confidence)`` as :func:`cctrace.report.mot.format_mot` takes it.

    ``frame_index`` is the stored 0-based index; ``track_id`` the tracklet's database
    id (unique across footage files; pass ``footage_id`` to ``mot_rows`` so frame
    indices of different files are not mixed).
    """

    frame_index: int
    track_id: int
    x: float
    y: float
    w: float
    h: float
    confidence: float


@dataclass(frozen=True)
class CaseRecord:
    """A stored case."""

    id: str
    created_at: datetime
    created_by: str
    legal_basis: str
    notes: str
    status: CaseStatus
    team: str = "default"
    window_from: datetime | None = None
    """Start of the infectious window (searches default to it)."""
    window_to: datetime | None = None
    parent_case_id: str | None = None
    """The case this one was opened from (a second-degree trace)."""
    closed_at: datetime | None = None


@dataclass(frozen=True)
class SightingRecord:
    """A tracklet recorded against a case."""

    case_id: str
    tracklet_id: int
    score: float
    status: SightingStatus
    decided_by: str | None
    """Who confirmed or rejected it; None while only the machine has scored it."""
    decided_at: datetime | None


@dataclass(frozen=True)
class AuditRecord:
    """One audit log entry."""

    id: int
    timestamp: datetime
    actor: str
    action: str
    case_id: str | None
    query: dict[str, Any]
    result: dict[str, Any]
    prev_hash: str
    hash: str


class Role(StrEnum):
    """What a signed-in person may do (see :mod:`cctrace.web.roles`)."""

    INVESTIGATOR = "investigator"
    SUPERVISOR = "supervisor"
    AUDITOR = "auditor"
    ADMIN = "admin"


@dataclass(frozen=True)
class UserRecord:
    """A web app user (never carries the password hash out of the store)."""

    username: str
    role: Role
    team: str
    active: bool
    created_at: datetime


@dataclass(frozen=True)
class WebSessionRecord:
    """A live sign-in session."""

    username: str
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True)
class ApprovalRecord:
    """A request for an export or an un-blurred view and its decision."""

    id: int
    case_id: str
    kind: str
    tracklet_id: int | None
    reason: str
    requested_by: str
    requested_at: datetime
    status: str
    decided_by: str | None
    decided_at: datetime | None
    result_digest: str | None = None
    """For an export: sha256 of the trace result it covers."""


@dataclass(frozen=True)
class TraceJobRecord:
    """A trace the web app was asked to run (``trace_jobs``)."""

    id: str
    case_id: str
    params: dict[str, Any]
    requested_by: str
    status: str
    """queued, running, done or failed."""
    stage: str
    progress: float
    error: str | None
    attempts: int
    """How many times a worker has claimed it."""
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    claimed_by: str | None
    heartbeat_at: datetime | None
