"""Tracklets: the ingest batch writer and the read side for tracing (tracklets, points,
encounters, body embeddings, camera hops, MOT export). Faces are in
:mod:`cctrace.store._faces`; the retention purge in :mod:`cctrace.store._retention`."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from itertools import pairwise

import numpy as np
from sqlalchemy import func, or_, select

from cctrace.errors import NotFoundError
from cctrace.types import FloatArray, SightingStatus, TrackPoint

from . import _convert
from ._base import chunks, require_aware, unique_ints
from ._ingest import TrackletBatchWriter
from .records import (
    EncounterRecord,
    MotRow,
    TrackletRecord,
)
from .schema import (
    BodyEmbeddingRow,
    CaseSightingRow,
    EncounterRow,
    FootageRow,
    TrackletRow,
    TrackPointRow,
)
from .time_bounds import MARGIN_S, longest_tracklet_s

log = logging.getLogger(__name__)

MAX_ROW_ID = 2**63 - 1
"""The largest id a (signed 64-bit) id column holds."""


class TrackletRepository(TrackletBatchWriter):
    """Tracklets (``store.tracklets``): the ingest batch writer (:meth:`save_batch`,
    from :class:`~cctrace.store._ingest.TrackletBatchWriter`) and the reads tracing
    needs: tracklets by id or time window, their points, encounters and body embeddings,
    camera hops, MOT export."""

    def get(self, tracklet_id: int) -> TrackletRecord:
        """One tracklet; :class:`NotFoundError` if unknown."""
        if not 1 <= int(tracklet_id) <= MAX_ROW_ID:  # the database could not even compare it
            raise NotFoundError(f"expected a stored tracklet {tracklet_id}, found none")
        with self._read() as s:
            row = s.get(TrackletRow, int(tracklet_id))
            if row is None:
                raise NotFoundError(f"expected a stored tracklet {tracklet_id}, found none")
            return _convert.tracklet(row, self.abspath)

    def count(self, footage_id: int | None = None) -> int:
        """How many tracklets are stored (for one footage file, or in all)."""
        stmt = select(func.count(TrackletRow.id))
        if footage_id is not None:
            stmt = stmt.where(TrackletRow.footage_id == footage_id)
        with self._read() as s:
            return int(s.execute(stmt).scalar_one())

    def get_many(self, ids: Iterable[int]) -> list[TrackletRecord]:
        """The stored tracklets among ``ids``, in input order (unknown ids are skipped)."""
        wanted = unique_ints(ids)
        found: dict[int, TrackletRecord] = {}
        with self._read() as s:
            for part in chunks(wanted):
                for row in s.scalars(select(TrackletRow).where(TrackletRow.id.in_(part))):
                    found[row.id] = _convert.tracklet(row, self.abspath)
        return [found[i] for i in wanted if i in found]

    def points(self, tracklet_id: int) -> tuple[TrackPoint, ...]:
        """A tracklet's points in frame order; :class:`NotFoundError` if unknown."""
        points = self.points_of([tracklet_id]).get(int(tracklet_id))
        if not points:
            raise NotFoundError(f"expected a stored tracklet {tracklet_id}, found none")
        return points

    def points_of(self, ids: Iterable[int]) -> dict[int, tuple[TrackPoint, ...]]:
        """Points of several tracklets (frame order), keyed by tracklet id."""
        out: dict[int, list[TrackPoint]] = {}
        p = TrackPointRow
        cols = (
            p.tracklet_id,
            p.frame_index,
            p.timestamp,
            p.x1,
            p.y1,
            p.x2,
            p.y2,
            p.ground_x,
            p.ground_y,
            p.confidence,
        )
        with self._read() as s:
            for part in chunks(unique_ints(ids)):
                stmt = (
                    select(*cols)
                    .where(p.tracklet_id.in_(part))
                    .order_by(p.tracklet_id, p.frame_index)
                )
                for tid, frame, ts, x1, y1, x2, y2, gx, gy, conf in s.execute(stmt):
                    out.setdefault(tid, []).append(
                        TrackPoint(frame, ts, (x1, y1, x2, y2), _convert.ground(gx, gy), conf)
                    )
        return {k: tuple(v) for k, v in out.items()}

    def in_window(
        self,
        t_from: datetime | None,
        t_to: datetime | None,
        camera_ids: Iterable[str] | None = None,
    ) -> list[TrackletRecord]:
        """Tracklets overlapping [t_from, t_to] (optionally of some cameras), by start.

        A bound of None is open: ``(None, None)`` lists every tracklet.
        """
        stmt = select(TrackletRow).order_by(TrackletRow.start_time, TrackletRow.id)
        if t_to is not None:
            require_aware(t_to, "t_to")
            stmt = stmt.where(TrackletRow.start_time <= t_to)
        if camera_ids is not None:
            stmt = stmt.where(TrackletRow.camera_id.in_(list(camera_ids)))
        with self._read() as s:
            if t_from is not None:
                require_aware(t_from, "t_from")
                # Both ends of the start_time range are bounded (see store.time_bounds),
                # so the index range is the window plus the longest tracklet only.
                earliest = t_from - timedelta(seconds=longest_tracklet_s(s) + MARGIN_S)
                stmt = stmt.where(
                    TrackletRow.end_time >= t_from, TrackletRow.start_time >= earliest
                )
            return [_convert.tracklet(r, self.abspath) for r in s.scalars(stmt)]

    def accepted_camera_hops(self, limit: int = 20_000) -> list[tuple[str, str, float]]:
        """Observed walks between cameras: (from camera, to camera, seconds from leaving
        the first view to entering the second) for consecutive accepted sightings of a
        case in different cameras, over the latest ``limit`` accepted sightings.

        Accepted sightings are matched by face or confirmed by an investigator (body
        appearance and motion links are never accepted on their own), so these are the
        confident links the camera graph learns walking times from.
        """
        stmt = (
            select(
                CaseSightingRow.case_id,
                TrackletRow.camera_id,
                TrackletRow.start_time,
                TrackletRow.end_time,
            )
            .join(TrackletRow, TrackletRow.id == CaseSightingRow.tracklet_id)
            .where(CaseSightingRow.status == SightingStatus.ACCEPTED.value)
            .order_by(CaseSightingRow.updated_at.desc())
            .limit(limit)
        )
        with self._read() as s:
            rows = list(s.execute(stmt))
        by_case: dict[str, list[tuple[datetime, datetime, str]]] = {}
        for case_id, camera_id, start, end in rows:
            by_case.setdefault(case_id, []).append((start, end, camera_id))
        hops: list[tuple[str, str, float]] = []
        for visits in by_case.values():
            visits.sort()
            for (_, end_a, cam_a), (start_b, _, cam_b) in pairwise(visits):
                if cam_a != cam_b:
                    hops.append((cam_a, cam_b, (start_b - end_a).total_seconds()))
        return hops

    def encounters_for(
        self,
        tracklet_ids: Iterable[int],
        t_from: datetime | None = None,
        t_to: datetime | None = None,
    ) -> list[EncounterRecord]:
        """Encounters of the given tracklets (on either side), by start time.

        Each record is seen from the asked-about tracklet (``tracklet_id``) and names
        the other person (``other_tracklet_id``). With ``t_from``/``t_to``, only
        encounters overlapping that window are returned.
        """
        wanted = set(unique_ints(tracklet_ids))
        rows: dict[int, EncounterRow] = {}
        with self._read() as s:
            for part in chunks(sorted(wanted)):
                stmt = select(EncounterRow).where(
                    or_(EncounterRow.tracklet_a_id.in_(part), EncounterRow.tracklet_b_id.in_(part))
                )
                if t_from is not None:
                    stmt = stmt.where(EncounterRow.end_time >= require_aware(t_from, "t_from"))
                if t_to is not None:
                    stmt = stmt.where(EncounterRow.start_time <= require_aware(t_to, "t_to"))
                rows.update((r.id, r) for r in s.scalars(stmt))
            out = [
                _convert.encounter(r, side)
                for r in rows.values()
                for side in (r.tracklet_a_id, r.tracklet_b_id)
                if side in wanted
            ]
        out.sort(key=lambda e: (e.start, e.id, e.tracklet_id))
        return out

    def body_embeddings(
        self, ids: Iterable[int], model: str | None = None
    ) -> dict[int, FloatArray]:
        """Body appearance embeddings of the tracklets that have one (decrypted,
        read-only), optionally only those made by ``model``."""
        out: dict[int, FloatArray] = {}
        with self._read() as s:
            for part in chunks(sorted(set(unique_ints(ids)))):
                stmt = select(BodyEmbeddingRow).where(BodyEmbeddingRow.tracklet_id.in_(part))
                if model is not None:
                    stmt = stmt.where(BodyEmbeddingRow.model == model)
                for r in s.scalars(stmt):
                    plain = self.cipher.decrypt(r.vector, "body", str(r.tracklet_id))
                    vector = np.frombuffer(plain, dtype=np.float32)
                    vector.flags.writeable = False
                    out[r.tracklet_id] = vector
        return out

    def mot_rows(self, camera_id: str, footage_id: int | None = None) -> list[MotRow]:
        """Every stored box of a camera (or one footage file) for MOTChallenge export,
        ordered by footage start, frame, tracklet."""
        stmt = (
            select(TrackPointRow, TrackletRow.id)
            .join(TrackletRow, TrackPointRow.tracklet_id == TrackletRow.id)
            .join(FootageRow, TrackletRow.footage_id == FootageRow.id)
            .where(TrackletRow.camera_id == camera_id)
            .order_by(
                FootageRow.start_time, FootageRow.id, TrackPointRow.frame_index, TrackletRow.id
            )
        )
        if footage_id is not None:
            stmt = stmt.where(TrackletRow.footage_id == footage_id)
        with self._read() as s:
            return [
                MotRow(
                    frame_index=p.frame_index,
                    track_id=tid,
                    x=p.x1,
                    y=p.y1,
                    w=p.x2 - p.x1,
                    h=p.y2 - p.y1,
                    confidence=p.confidence,
                )
                for p, tid in s.execute(stmt)
            ]
