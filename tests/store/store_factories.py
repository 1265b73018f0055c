"""Builders of real pipeline objects (Tracklet, Encounter, ...) for the store tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from cctrace.store import FootageRecord, Store
from cctrace.types import Encounter, FaceSample, MaskStatus, Snapshot, Tracklet, TrackPoint

T0 = datetime(2024, 3, 1, 9, 0, 0, 123456, tzinfo=UTC)
SHA = "ab" * 32


def unit_vectors(n: int, dim: int = 128, seed: int = 0) -> np.ndarray:
    """``n`` random L2-normalised float32 vectors."""
    v = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def image(h: int = 16, w: int = 12, value: int = 128) -> np.ndarray:
    """A small BGR image with a gradient (so JPEG has something to encode)."""
    img = np.full((h, w, 3), value, np.uint8)
    img[:, :, 0] = np.linspace(0, 255, w, dtype=np.uint8)
    return img


def tracklet(
    track_id: int,
    camera_id: str = "cam1",
    start: datetime = T0,
    n_points: int = 5,
    n_faces: int = 2,
    fps: float = 5.0,
    first_frame: int = 0,
    seed: int | None = None,
    snapshot: bool = True,
    mask: MaskStatus = MaskStatus.WORN,
) -> Tracklet:
    """A tracklet with points every 1/fps s, some faces and a snapshot."""
    points = tuple(
        TrackPoint(
            frame_index=first_frame + i,
            timestamp=start + timedelta(seconds=i / fps),
            xyxy=(10.0 + i, 20.0, 50.0 + i, 120.0),
            ground_xy=(1.5 + 0.1 * i, -2.25),
            confidence=0.9 - 0.01 * i,
        )
        for i in range(n_points)
    )
    vecs = unit_vectors(n_faces, seed=track_id if seed is None else seed)
    faces = tuple(
        FaceSample(
            frame_index=first_frame + i,
            timestamp=points[i].timestamp,
            embedding=vecs[i],
            quality=0.5 + 0.1 * i,
            mask_probability=0.8 if i % 2 == 0 else None,
            crop=image(value=40 * i),
        )
        for i in range(min(n_faces, n_points))
    )
    snap = (
        Snapshot(
            frame_index=first_frame,
            timestamp=start,
            image=image(32, 24),
            subject_xyxy=(2.0, 2.0, 20.0, 30.0),
        )
        if snapshot
        else None
    )
    return Tracklet(
        camera_id=camera_id,
        track_id=track_id,
        points=points,
        faces=faces,
        mask_status=mask,
        mask_votes=(2, 1),
        snapshot=snap,
    )


def encounter(
    a: int, b: int, camera_id: str = "cam1", start: datetime = T0, seconds: float = 1.0
) -> Encounter:
    """An encounter of tracks ``a`` and ``b``."""
    return Encounter(
        camera_id=camera_id,
        track_a=a,
        track_b=b,
        start=start,
        end=start + timedelta(seconds=seconds),
        seconds_within={1.0: 0.4, 2.0: 0.8, 3.0: 1.0, 1.5: 0.6},
        min_distance_m=0.7,
        min_distance_at=start + timedelta(seconds=0.2),
    )


def setup_footage(store: Store, camera_id: str = "cam1", sha: str = SHA) -> FootageRecord:
    """A camera and one pending footage file."""
    store.cameras.upsert(camera_id, f"Camera {camera_id}", x_m=1.0, y_m=2.0)
    return store.footage.get_or_create(
        camera_id, f"/videos/{camera_id}.mp4", sha, 1000, T0, 60.0, 25.0
    )


def save(
    store: Store,
    footage_id: int,
    tracklets: list[Tracklet],
    encounters: list[Encounter] | None = None,
    offset: float = 10.0,
) -> list[int]:
    """``save_batch`` with plausible progress values."""
    return store.tracklets.save_batch(
        footage_id, tracklets, encounters or [], offset, b"ckpt", "running", 100, 1
    )
