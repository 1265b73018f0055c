"""Encounters across overlapping cameras, measured when a trace asks for them.

Ingest measures encounters within one camera: both people in the same picture. Two
calibrated cameras whose views share floor split the people near their seam between two
pictures: the case walks in one view while the person beside them is seen only in the
other (hidden in the first, or just outside its edge). Both cameras map feet onto the
same site plan, so their distance is known all the same.

For each tracklet on the case's route, the tracklets of the other cameras whose views
share floor with its camera, and whose times overlap it, are compared with it on the
route tracklet's own time grid, with the same gap filling, smoothing and distance bands
as ingest (:mod:`cctrace.tracking.encounters`). The other camera sees the floor the case
stands on, so at each instant one of its boxes near the case (within ``SAME_PATH_M``,
the stitcher's same-person distance) is the case seen twice: those instants never count
as a contact (:func:`_doubles`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

import numpy as np

from cctrace.store.records import EncounterRecord, TrackletRecord
from cctrace.tracing.stitching import SAME_PATH_M
from cctrace.tracking.encounters import (
    EncounterSettings,
    GroundPath,
    encounter_between,
    make_path,
)
from cctrace.types import TrackPoint

CROSS_VIEW_ENCOUNTER_ID = 0
"""The ``id`` of an encounter measured at trace time: it has no stored row."""


def cross_view_encounters(
    route: Sequence[TrackletRecord],
    others: Sequence[TrackletRecord],
    points: dict[int, tuple[TrackPoint, ...]],
    sharing_floor: Collection[tuple[str, str]],
    settings: EncounterSettings,
    exclude: Collection[int] = (),
) -> list[EncounterRecord]:
    """Encounters between route tracklets and tracklets of cameras whose views share
    floor with theirs, seen from the route side (``tracklet_id`` is the case's).

    ``points`` holds every tracklet's points; ``sharing_floor`` has sorted camera-id
    pairs; tracklets in ``exclude`` (the route itself) are never contacts.
    """
    if not sharing_floor or not route:
        return []
    partners: dict[str, set[str]] = {}
    for a, b in sharing_floor:
        partners.setdefault(a, set()).add(b)
        partners.setdefault(b, set()).add(a)
    origin = min(r.start for r in route)
    on_route = {r.id for r in route}
    out: list[EncounterRecord] = []
    for case in route:
        case_points = points.get(case.id, ())
        if len(case_points) < 2 or case.camera_id not in partners:
            continue
        case_path = _path(case.id, case_points, origin, settings)
        for camera in sorted(partners[case.camera_id]):
            seen = [
                t
                for t in (*route, *others)
                if t.camera_id == camera
                and t.start <= case.end
                and case.start <= t.end
                and len(points.get(t.id, ())) >= 2
            ]
            ids, dist, on_grid = _distances_on_grid(case_path, seen, points, origin, settings)
            if not ids:
                continue
            double = _doubles(dist, np.array([i in on_route for i in ids]))
            by_id = {t.id: t for t in seen}
            for k, tid in enumerate(ids):
                other = by_id[tid]
                if tid in exclude or tid in on_route:
                    continue
                keep = np.isfinite(dist[k]) & ~double[k]
                if not keep.any():
                    continue
                path = GroundPath(tid, origin, case_path.times[keep], on_grid[k][keep])
                enc = encounter_between(case_path, path, camera, settings)
                if enc is None:
                    continue
                out.append(
                    EncounterRecord(
                        id=CROSS_VIEW_ENCOUNTER_ID,
                        camera_id=camera,
                        footage_id=other.footage_id,
                        tracklet_id=case.id,
                        other_tracklet_id=tid,
                        start=enc.start,
                        end=enc.end,
                        seconds_within=dict(enc.seconds_within),
                        min_distance_m=enc.min_distance_m,
                        min_distance_at=enc.min_distance_at,
                    )
                )
    out.sort(key=lambda e: (e.start, e.tracklet_id, e.other_tracklet_id))
    return out


def _distances_on_grid(
    case_path: GroundPath,
    seen: Sequence[TrackletRecord],
    points: dict[int, tuple[TrackPoint, ...]],
    origin: datetime,
    settings: EncounterSettings,
) -> tuple[list[int], np.ndarray, list[np.ndarray]]:
    """Tracklet ids seen on the case's grid, their distance to the case at each instant
    (inf where unseen) and their positions there."""
    grid = case_path.times
    ids: list[int] = []
    rows: list[np.ndarray] = []
    positions: list[np.ndarray] = []
    for t in seen:
        on = resample(_path(t.id, points[t.id], origin, settings), grid, settings)
        if on is None:
            continue
        at = np.searchsorted(grid, on.times)
        row = np.full(len(grid), np.inf)
        row[at] = np.linalg.norm(on.xy - case_path.xy[at], axis=1)
        xy = np.zeros((len(grid), 2))
        xy[at] = on.xy
        ids.append(t.id)
        rows.append(row)
        positions.append(xy)
    dist = np.vstack(rows) if rows else np.zeros((0, len(grid)))
    return ids, dist, positions


def _doubles(dist: np.ndarray, on_route: np.ndarray) -> np.ndarray:
    """Which of the other camera's boxes is the case, per instant.

    That camera sees the floor the case stands on, so at each instant one of its boxes
    within ``SAME_PATH_M`` of the case is the case: a tracklet on the route if there is
    one there, else the tracklet that stays that near the case for the most instants
    (it follows the case), the nearest on a tie. A companion walking closer than that
    while only this camera sees them is lost for those instants; the case counted as
    their own contact is worse.
    """
    double = np.zeros(dist.shape, dtype=bool)
    if dist.size == 0:
        return double
    near = dist <= SAME_PATH_M
    follows = near.sum(axis=1) + np.where(on_route, dist.shape[1] + 1, 0)
    for instant in np.flatnonzero(near.any(axis=0)):
        rows = np.flatnonzero(near[:, instant])
        best = max(rows, key=lambda r: (follows[r], -dist[r, instant]))
        double[best, instant] = True
    return double


def resample(path: GroundPath, times: np.ndarray, settings: EncounterSettings) -> GroundPath | None:
    """``path``'s positions at ``times`` (another camera's grid), where it was seen.

    A time counts when it falls between two of the path's samples at most one and a half
    analysis steps apart (the path is already gap-filled up to ``max_gap_s``), or within
    a third of a step of one of its samples: a longer gap stays a gap.
    """
    t = np.asarray(times, np.float64)
    if len(path.times) == 0:
        return None
    j = np.searchsorted(path.times, t)
    lo = np.clip(j - 1, 0, len(path.times) - 1)
    hi = np.clip(j, 0, len(path.times) - 1)
    spacing = path.times[hi] - path.times[lo]
    inside = (t >= path.times[0]) & (t <= path.times[-1]) & (spacing <= 1.5 * settings.step_s)
    near = np.minimum(np.abs(path.times[lo] - t), np.abs(path.times[hi] - t)) <= settings.step_s / 3
    keep = inside | near
    if not keep.any():
        return None
    kept_t = t[keep]
    xy = np.column_stack([np.interp(kept_t, path.times, path.xy[:, k]) for k in range(2)])
    return GroundPath(path.track_id, path.origin, kept_t, xy)


def _path(
    tracklet_id: int,
    points: tuple[TrackPoint, ...],
    origin: datetime,
    settings: EncounterSettings,
) -> GroundPath:
    times = np.array([(p.timestamp - origin).total_seconds() for p in points])
    xy = np.array([p.ground_xy for p in points], dtype=np.float64)
    return make_path(tracklet_id, origin, times, xy, settings)
