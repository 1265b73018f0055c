"""ORM rows -> frozen records."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from cctrace.privacy.crypto import DataCipher
from cctrace.types import FloatArray, MaskStatus, SightingStatus

from .records import (
    AuditRecord,
    CameraRecord,
    CaseRecord,
    CaseStatus,
    EmbeddingRecord,
    EncounterRecord,
    FootageFailureRecord,
    FootageRecord,
    FootageStatus,
    Homography,
    SightingRecord,
    TrackletRecord,
)
from .schema import (
    AuditRow,
    CameraRow,
    CaseRow,
    CaseSightingRow,
    EncounterRow,
    FaceEmbeddingRow,
    FootageFailureRow,
    FootageRow,
    TrackletRow,
)

PathFn = Callable[[str | None], str | None]


def camera(row: CameraRow) -> CameraRecord:
    """Camera row -> record."""
    homography: Homography | None = None
    if row.homography is not None:
        homography = tuple((float(r[0]), float(r[1]), float(r[2])) for r in row.homography)
    return CameraRecord(
        id=row.id,
        name=row.name,
        lat=row.lat,
        lon=row.lon,
        x_m=row.x_m,
        y_m=row.y_m,
        homography=homography,
        config=dict(row.config or {}),
    )


def footage(row: FootageRow, cipher: DataCipher) -> FootageRecord:
    """Footage row -> record (the checkpoint decrypted)."""
    return FootageRecord(
        id=row.id,
        camera_id=row.camera_id,
        path=row.path,
        sha256=row.sha256,
        size=row.size,
        start_time=row.start_time,
        duration_s=row.duration_s,
        fps=row.fps,
        status=FootageStatus(row.status),
        progress_offset_s=row.progress_offset_s,
        checkpoint_state=(
            None
            if row.checkpoint_state is None
            else cipher.decrypt(row.checkpoint_state, "checkpoint", str(row.id))
        ),
        error=row.error,
        frames_decoded=row.frames_decoded,
        frames_failed=row.frames_failed,
        created_at=row.created_at,
        updated_at=row.updated_at,
        start_source=row.start_source,
        run_owner=row.run_owner,
        heartbeat_at=row.heartbeat_at,
    )


def footage_failure(row: FootageFailureRow) -> FootageFailureRecord:
    """Footage failure row -> record."""
    return FootageFailureRecord(
        id=row.id,
        camera_id=row.camera_id,
        path=row.path,
        size=row.size,
        error=row.error,
        failed_at=row.failed_at,
    )


def tracklet(row: TrackletRow, path: PathFn) -> TrackletRecord:
    """Tracklet row -> record (snapshot path made absolute by ``path``)."""
    return TrackletRecord(
        id=row.id,
        camera_id=row.camera_id,
        footage_id=row.footage_id,
        track_id=row.track_id,
        start=row.start_time,
        end=row.end_time,
        n_points=row.n_points,
        mask_status=MaskStatus(row.mask_status),
        mask_votes=(row.mask_worn_votes, row.mask_not_worn_votes),
        snapshot_path=path(row.snapshot_path),
        best_face_quality=row.best_face_quality,
    )


def ground(x: float | None, y: float | None) -> tuple[float, float]:
    """A stored ground point; NULL (an unmapped foot point) comes back as NaN."""
    return (math.nan if x is None else x, math.nan if y is None else y)


def vector(blob: bytes, cipher: DataCipher, tracklet_id: int) -> FloatArray:
    """A stored (encrypted, or legacy plain) float32 blob of a tracklet's face as a
    read-only array."""
    plain = cipher.decrypt(blob, "embedding", str(tracklet_id))
    arr = np.frombuffer(plain, dtype=np.float32)
    arr.flags.writeable = False
    return arr


def loose_face_context(footage_id: int, frame_index: int) -> str:
    """Associated-data context of a loose face's encrypted vector: its file and frame
    (a tracklet face's context is its tracklet id, so the two cannot be swapped)."""
    return f"loose:{int(footage_id)}:{int(frame_index)}"


def embedding(row: FaceEmbeddingRow, path: PathFn, cipher: DataCipher) -> EmbeddingRecord:
    """Face embedding row -> record (vector decrypted)."""
    return EmbeddingRecord(
        id=row.id,
        tracklet_id=row.tracklet_id,
        frame_index=row.frame_index,
        timestamp=row.timestamp,
        quality=row.quality,
        mask_probability=row.mask_probability,
        vector=vector(row.vector, cipher, row.tracklet_id),
        crop_path=path(row.crop_path),
    )


def encounter(row: EncounterRow, side: int) -> EncounterRecord:
    """Encounter row -> record seen from tracklet ``side``."""
    other = row.tracklet_b_id if side == row.tracklet_a_id else row.tracklet_a_id
    return EncounterRecord(
        id=row.id,
        camera_id=row.camera_id,
        footage_id=row.footage_id,
        tracklet_id=side,
        other_tracklet_id=other,
        start=row.start_time,
        end=row.end_time,
        seconds_within={float(k): float(v) for k, v in (row.seconds_by_band or {}).items()},
        min_distance_m=row.min_distance_m,
        min_distance_at=row.min_distance_at,
    )


def case(row: CaseRow) -> CaseRecord:
    """Case row -> record."""
    return CaseRecord(
        id=row.id,
        created_at=row.created_at,
        created_by=row.created_by,
        legal_basis=row.legal_basis,
        notes=row.notes,
        status=CaseStatus(row.status),
        team=row.team or "default",
        window_from=row.window_from,
        window_to=row.window_to,
        parent_case_id=row.parent_case_id,
        closed_at=row.closed_at,
    )


def sighting(row: CaseSightingRow) -> SightingRecord:
    """Case sighting row -> record."""
    return SightingRecord(
        case_id=row.case_id,
        tracklet_id=row.tracklet_id,
        score=row.score,
        status=SightingStatus(row.status),
        decided_by=row.decided_by,
        decided_at=row.decided_at,
    )


def audit(row: AuditRow) -> AuditRecord:
    """Audit row -> record."""
    return AuditRecord(
        id=row.id,
        timestamp=row.timestamp,
        actor=row.actor,
        action=row.action,
        case_id=row.case_id,
        query=dict(row.query),
        result=dict(row.result),
        prev_hash=row.prev_hash,
        hash=row.hash,
    )
