"""Encounters across overlapping cameras, measured when a trace asks for them.

Ingest measures encounters within one camera: both people in the same picture. Two
calibrated cameras whose views share floor split the people near their seam between two
pictures: the case walks in one view while the person beside them is seen only in the
other (hidden in the first, or just outside its edge). Both cameras map feet onto the
same site plan, so their distance is known all the same.

For each tracklet on the case's route, the tracklets of the other cameras whose views
share floor with its camera, and whose times overlap it, are compared with it on the
route tracklet's own time grid, with the same gap filling, smoothing and distance bands
as ingest (:mod:`cctrace.tracking.encounters`). A tracklet of the other camera that walks
the case's own path (the stitcher's same-person rule: median distance at most
``SAME_PATH_M`` while both are seen) is the case seen twice, never a contact.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

import numpy as np

from cctrace.store.records import EncounterRecord, TrackletRecord
from cctrace.tracing.stitching import SAME_PATH_M, Fragment, make_fragment, path_distance
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
    out: list[EncounterRecord] = []
    for case in route:
        case_points = points.get(case.id, ())
        if len(case_points) < 2 or case.camera_id not in partners:
            continue
        case_path = _path(case.id, case_points, origin, settings)
        case_fragment = _fragment(case, case_points)
        for other in others:
            if (
                other.id in exclude
                or other.camera_id not in partners[case.camera_id]
                or other.end < case.start
                or case.end < other.start
            ):
                continue
            other_points = points.get(other.id, ())
            if len(other_points) < 2:
                continue
            distance = path_distance(case_fragment, _fragment(other, other_points))
            if distance is not None and distance <= SAME_PATH_M:
                continue  # the case seen by the other camera
            other_path = _path(other.id, other_points, origin, settings)
            on_grid = resample(other_path, case_path.times, settings)
            if on_grid is None:
                continue
            enc = encounter_between(case_path, on_grid, other.camera_id, settings)
            if enc is None:
                continue
            out.append(
                EncounterRecord(
                    id=CROSS_VIEW_ENCOUNTER_ID,
                    camera_id=other.camera_id,
                    footage_id=other.footage_id,
                    tracklet_id=case.id,
                    other_tracklet_id=other.id,
                    start=enc.start,
                    end=enc.end,
                    seconds_within=dict(enc.seconds_within),
                    min_distance_m=enc.min_distance_m,
                    min_distance_at=enc.min_distance_at,
                )
            )
    out.sort(key=lambda e: (e.start, e.tracklet_id, e.other_tracklet_id))
    return out


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


def _fragment(record: TrackletRecord, points: tuple[TrackPoint, ...]) -> Fragment:
    return make_fragment(record.id, record.camera_id, [(p.timestamp, *p.ground_xy) for p in points])
