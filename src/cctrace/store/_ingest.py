"""``save_batch``: one ingest batch (tracklets, faces, encounters, progress) in one
transaction."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from cctrace.errors import NotFoundError
from cctrace.types import Encounter, LooseFace, MaskStatus, Tracklet

from . import _convert
from ._base import Repository, chunks, require_aware, require_finite
from .files import FileBatch, crop_relpath, snapshot_relpath
from .records import FootageStatus, InvalidInputError, parse_footage_status
from .schema import (
    Base,
    BodyEmbeddingRow,
    EncounterRow,
    FaceEmbeddingRow,
    FootageRow,
    LooseFaceRow,
    TrackletRow,
    TrackPointRow,
    utcnow,
)
from .time_bounds import raise_longest

log = logging.getLogger(__name__)

NORM_TOLERANCE = 1e-2
FIXED_BANDS = {1.0: "seconds_within_1m", 2.0: "seconds_within_2m", 3.0: "seconds_within_3m"}
BOX_DECIMALS = 2
"""Loose face boxes are stored rounded to this many decimals (their identity on retry)."""


def _check_vector(vec: np.ndarray, where: str) -> None:
    if vec.ndim != 1 or vec.size == 0 or not np.isfinite(vec).all():
        raise InvalidInputError(f"{where}: expected a finite 1-D embedding, got {vec.shape}")
    norm = float(np.linalg.norm(vec))
    if abs(norm - 1.0) > NORM_TOLERANCE:
        raise InvalidInputError(f"{where}: expected an L2-normalised embedding, norm {norm}")


def _validate_loose_face(f: LooseFace, camera_id: str) -> None:
    where = f"loose face at frame {f.frame_index}"
    if f.camera_id != camera_id:
        raise InvalidInputError(f"{where}: expected camera {camera_id!r}, got {f.camera_id!r}")
    require_aware(f.timestamp, f"{where} timestamp")
    for v in (*f.xyxy, f.score, f.quality):
        require_finite(v, where)
    _check_vector(np.asarray(f.embedding), where)


def _validate_tracklet(t: Tracklet, camera_id: str) -> None:
    where = f"tracklet {t.track_id}"
    if t.camera_id != camera_id:
        raise InvalidInputError(f"{where}: expected camera {camera_id!r}, got {t.camera_id!r}")
    if not t.points:
        raise InvalidInputError(f"{where}: expected at least one point, got none")
    frames = [p.frame_index for p in t.points]
    if len(set(frames)) != len(frames):
        raise InvalidInputError(f"{where}: expected distinct frame indices, got repeats")
    for p in t.points:
        require_aware(p.timestamp, f"{where} point timestamp")
        for v in p.xyxy:
            require_finite(v, f"{where} box")
        require_finite(p.confidence, f"{where} confidence")
    if t.start > t.end:
        raise InvalidInputError(
            f"{where}: expected points in time order, start {t.start} > end {t.end}"
        )
    MaskStatus(t.mask_status)
    dims = set()
    for f in t.faces:
        require_aware(f.timestamp, f"{where} face timestamp")
        require_finite(f.quality, f"{where} face quality")
        vec = np.asarray(f.embedding)
        _check_vector(vec, where)
        dims.add(vec.size)
    if len(dims) > 1:
        raise InvalidInputError(f"{where}: expected one embedding size, got {sorted(dims)}")


def _validate_encounter(e: Encounter, camera_id: str) -> None:
    where = f"encounter {e.track_a}-{e.track_b}"
    if e.camera_id != camera_id:
        raise InvalidInputError(f"{where}: expected camera {camera_id!r}, got {e.camera_id!r}")
    if e.track_a == e.track_b:
        raise InvalidInputError(f"{where}: expected two different tracks")
    for name in ("start", "end", "min_distance_at"):
        require_aware(getattr(e, name), f"{where} {name}")
    if e.start > e.end:
        raise InvalidInputError(f"{where}: start {e.start} is after end {e.end}")
    require_finite(e.min_distance_m, f"{where} min_distance_m")
    for band, seconds in e.seconds_within.items():
        require_finite(band, f"{where} band")
        require_finite(seconds, f"{where} seconds")


def _table(model: type[Base]) -> Table:
    """The Core table of a mapped class (Core inserts skip the ORM's per-row work)."""
    return Base.metadata.tables[model.__tablename__]


def _ground(v: float) -> float | None:
    return None if math.isnan(v) else float(v)


class TrackletBatchWriter(Repository):
    """The ingest batch writer: the write half of
    :class:`~cctrace.store._tracklets.TrackletRepository` (``store.tracklets.save_batch``)."""

    def save_batch(
        self,
        footage_id: int,
        tracklets: Sequence[Tracklet],
        encounters: Sequence[Encounter],
        progress_offset_s: float,
        checkpoint_state: bytes | None,
        status: FootageStatus | str,
        frames_decoded: int,
        frames_failed: int,
        *,
        error: str | None = None,
        loose_faces: Sequence[LooseFace] = (),
        earlier_tracklets: Mapping[int, int] | None = None,
    ) -> list[int]:
        """Store one ingest batch atomically and return the tracklet ids, in input order.

        In one transaction: tracklets (points, face embeddings), encounters, and the
        footage's progress, checkpoint, status and frame counters. Face crops and
        snapshots are written as JPEG files (deterministic names) before the commit;
        face vectors, crops and the checkpoint (the tracker state holds faces of
        unfinished tracks) are encrypted with the store's data cipher.
        A tracklet whose (footage, track id) is already stored is skipped, and so is an
        encounter already stored, so a retried batch changes nothing twice. Encounters
        name tracker ids of tracklets in this batch or already stored for the footage;
        any other id raises :class:`InvalidInputError` and nothing is stored.

        ``loose_faces`` (faces no tracked person surely holds) are stored in the same
        transaction, their vectors encrypted; one already stored for the same
        (footage, frame, box) is skipped.

        ``earlier_tracklets`` (track id -> stored tracklet id) names tracklets of the same
        camera stored with earlier footage that encounters may also name: a live stream's
        tracker runs on across its segments, so a person finished in one segment can meet
        one finished in the next. Ids of another camera are refused.
        """
        new_status = parse_footage_status(status)
        require_finite(progress_offset_s, "progress_offset_s")
        track_ids = [t.track_id for t in tracklets]
        if len(set(track_ids)) != len(track_ids):
            raise InvalidInputError("tracklets: expected distinct track ids within a batch")
        files = FileBatch(self.data_dir, self.cipher)
        body_done = False
        try:
            with self._write() as s:
                footage = s.get(FootageRow, footage_id, with_for_update=True)
                if footage is None:
                    raise NotFoundError(f"expected a stored footage file {footage_id}, found none")
                camera_id = footage.camera_id
                for t in tracklets:
                    _validate_tracklet(t, camera_id)
                for e in encounters:
                    _validate_encounter(e, camera_id)
                for f in loose_faces:
                    _validate_loose_face(f, camera_id)
                ids: dict[int, int] = {
                    int(track): int(tid)
                    for track, tid in s.execute(
                        select(TrackletRow.track_id, TrackletRow.id).where(
                            TrackletRow.footage_id == footage_id
                        )
                    )
                }
                if earlier_tracklets:
                    ids = {**self._same_camera(s, camera_id, earlier_tracklets), **ids}
                new = [t for t in tracklets if t.track_id not in ids]
                if len(new) < len(tracklets):
                    log.info(
                        "footage %s: %d tracklets already stored, skipped",
                        footage_id,
                        len(tracklets) - len(new),
                    )
                ids.update(self._insert_tracklets(s, footage_id, camera_id, new, files))
                self._insert_encounters(s, footage_id, encounters, ids)
                self._insert_loose_faces(s, footage_id, camera_id, loose_faces)
                footage.progress_offset_s = float(progress_offset_s)
                footage.checkpoint_state = (
                    None
                    if checkpoint_state is None
                    else self.cipher.encrypt(bytes(checkpoint_state), "checkpoint", str(footage_id))
                )
                footage.status = new_status.value
                footage.error = error
                footage.frames_decoded = int(frames_decoded)
                footage.frames_failed = int(frames_failed)
                footage.updated_at = utcnow()
                body_done = True
        except BaseException:
            if body_done:
                log.warning("footage %s: commit failed; files kept for the retry", footage_id)
            else:
                files.discard()
            raise
        log.debug(
            "footage %s: stored %d tracklets, %d encounters, offset %.1f s",
            footage_id,
            len(tracklets),
            len(encounters),
            progress_offset_s,
        )
        return [ids[t.track_id] for t in tracklets]

    def _same_camera(
        self, s: Session, camera_id: str, tracklets: Mapping[int, int]
    ) -> dict[int, int]:
        """``tracklets`` (track id -> stored id) after checking they are this camera's."""
        stored = set(tracklets.values())
        found = {
            int(i)
            for part in chunks(sorted(stored))
            for i in s.scalars(
                select(TrackletRow.id).where(
                    TrackletRow.id.in_(part), TrackletRow.camera_id == camera_id
                )
            )
        }
        if found != stored:
            raise InvalidInputError(
                f"earlier_tracklets: expected stored tracklets of camera {camera_id}, "
                f"found none for {sorted(stored - found)[:5]}"
            )
        return {int(k): int(v) for k, v in tracklets.items()}

    def _insert_tracklets(
        self,
        s: Session,
        footage_id: int,
        camera_id: str,
        tracklets: Sequence[Tracklet],
        files: FileBatch,
    ) -> dict[int, int]:
        rows: list[TrackletRow] = []
        for t in tracklets:
            snapshot = None
            if t.snapshot is not None:
                snapshot = snapshot_relpath(camera_id, footage_id, t.track_id)
                files.write_jpeg(snapshot, t.snapshot.image)
            rows.append(
                TrackletRow(
                    camera_id=camera_id,
                    footage_id=footage_id,
                    track_id=int(t.track_id),
                    start_time=t.start,
                    end_time=t.end,
                    n_points=len(t.points),
                    mask_status=MaskStatus(t.mask_status).value,
                    mask_worn_votes=int(t.mask_votes[0]),
                    mask_not_worn_votes=int(t.mask_votes[1]),
                    snapshot_path=snapshot,
                    best_face_quality=max((float(f.quality) for f in t.faces), default=None),
                )
            )
        s.add_all(rows)
        s.flush()
        if tracklets:
            raise_longest(s, max((t.end - t.start).total_seconds() for t in tracklets))
        points: list[dict[str, Any]] = []
        faces: list[dict[str, Any]] = []
        for t, row in zip(tracklets, rows, strict=True):
            for p in t.points:
                points.append(
                    {
                        "tracklet_id": row.id,
                        "frame_index": int(p.frame_index),
                        "timestamp": p.timestamp,
                        "x1": float(p.xyxy[0]),
                        "y1": float(p.xyxy[1]),
                        "x2": float(p.xyxy[2]),
                        "y2": float(p.xyxy[3]),
                        "ground_x": _ground(p.ground_xy[0]),
                        "ground_y": _ground(p.ground_xy[1]),
                        "confidence": float(p.confidence),
                    }
                )
            for n, f in enumerate(t.faces):
                crop = None
                if f.crop is not None and np.asarray(f.crop).size > 0:
                    crop = crop_relpath(camera_id, footage_id, t.track_id, f.frame_index, n)
                    files.write_crop(crop, f.crop)
                faces.append(
                    {
                        "tracklet_id": row.id,
                        "frame_index": int(f.frame_index),
                        "timestamp": f.timestamp,
                        "quality": float(f.quality),
                        "mask_probability": (
                            None if f.mask_probability is None else float(f.mask_probability)
                        ),
                        "vector": self.cipher.encrypt(
                            np.ascontiguousarray(f.embedding, dtype=np.float32).tobytes(),
                            "embedding",
                            str(row.id),
                        ),
                        "crop_path": crop,
                    }
                )
        bodies = [
            {
                "tracklet_id": row.id,
                "model": t.body.model,
                "vector": self.cipher.encrypt(
                    np.ascontiguousarray(t.body.vector, dtype=np.float32).tobytes(),
                    "body",
                    str(row.id),
                ),
            }
            for t, row in zip(tracklets, rows, strict=True)
            if t.body is not None
        ]
        if points:
            s.execute(insert(_table(TrackPointRow)), points)
        if faces:
            s.execute(insert(_table(FaceEmbeddingRow)), faces)
        if bodies:
            s.execute(insert(_table(BodyEmbeddingRow)), bodies)
        return {t.track_id: row.id for t, row in zip(tracklets, rows, strict=True)}

    def _insert_encounters(
        self, s: Session, footage_id: int, encounters: Sequence[Encounter], ids: dict[int, int]
    ) -> None:
        if not encounters:
            return
        resolved: list[tuple[int, int, Encounter]] = []
        for e in encounters:
            missing = [t for t in (e.track_a, e.track_b) if t not in ids]
            if missing:
                raise InvalidInputError(
                    f"encounter {e.track_a}-{e.track_b}: expected tracks stored for footage "
                    f"{footage_id} or in this batch, found none for {missing}"
                )
            a, b = sorted((ids[e.track_a], ids[e.track_b]))
            resolved.append((a, b, e))
        seen: set[tuple[int, int, datetime]] = set()
        a_ids = sorted({a for a, _, _ in resolved})
        for part in chunks(a_ids):
            stmt = select(
                EncounterRow.tracklet_a_id, EncounterRow.tracklet_b_id, EncounterRow.start_time
            ).where(EncounterRow.tracklet_a_id.in_(part))
            seen.update((int(a), int(b), t) for a, b, t in s.execute(stmt))
        rows: list[dict[str, Any]] = []
        for a, b, e in resolved:
            key = (a, b, e.start)
            if key in seen:
                continue
            seen.add(key)
            row: dict[str, Any] = {
                "camera_id": e.camera_id,
                "footage_id": footage_id,
                "tracklet_a_id": a,
                "tracklet_b_id": b,
                "start_time": e.start,
                "end_time": e.end,
                "seconds_by_band": {
                    repr(float(k)): float(v) for k, v in sorted(e.seconds_within.items())
                },
                "min_distance_m": float(e.min_distance_m),
                "min_distance_at": e.min_distance_at,
            }
            for band, column in FIXED_BANDS.items():
                row[column] = next(
                    (float(v) for k, v in e.seconds_within.items() if math.isclose(k, band)),
                    None,
                )
            rows.append(row)
        if rows:
            s.execute(insert(_table(EncounterRow)), rows)

    def _insert_loose_faces(
        self, s: Session, footage_id: int, camera_id: str, faces: Sequence[LooseFace]
    ) -> None:
        if not faces:
            return
        frames = sorted({int(f.frame_index) for f in faces})
        seen: set[tuple[int, float, float, float, float]] = set()
        r = LooseFaceRow
        for part in chunks(frames):
            stmt = select(r.frame_index, r.x1, r.y1, r.x2, r.y2).where(
                r.footage_id == footage_id, r.frame_index.in_(part)
            )
            seen.update((int(fi), x1, y1, x2, y2) for fi, x1, y1, x2, y2 in s.execute(stmt))
        rows: list[dict[str, Any]] = []
        for f in faces:
            x1, y1, x2, y2 = (round(float(v), BOX_DECIMALS) for v in f.xyxy)
            key = (int(f.frame_index), x1, y1, x2, y2)
            if key in seen:
                continue
            seen.add(key)
            rows.append(
                {
                    "camera_id": camera_id,
                    "footage_id": footage_id,
                    "frame_index": int(f.frame_index),
                    "timestamp": f.timestamp,
                    "x1": x1,
                    "y1": y1,
                    "x2": x2,
                    "y2": y2,
                    "score": float(f.score),
                    "quality": float(f.quality),
                    "fate": str(f.fate),
                    "vector": self.cipher.encrypt(
                        np.ascontiguousarray(f.embedding, dtype=np.float32).tobytes(),
                        "embedding",
                        _convert.loose_face_context(footage_id, f.frame_index),
                    ),
                }
            )
        if len(rows) < len(faces):
            log.info(
                "footage %s: %d loose faces already stored, skipped",
                footage_id,
                len(faces) - len(rows),
            )
        if rows:
            s.execute(insert(_table(LooseFaceRow)), rows)
