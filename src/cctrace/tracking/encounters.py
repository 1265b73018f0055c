"""Encounters: how long two co-present people spent within each distance band.

Computed at ingest, per camera, once both people's tracklets are finished, from
their whole ground paths, so a trace only joins stored rows and never rescans
footage. Each path is first gap-filled (linear interpolation across short
detection drop-outs, up to ``max_gap_s``) and smoothed (a centred moving
average, which removes foot-point jitter of a few tens of centimetres). Both
paths are then compared at every analysed instant where both people are
present; each instant counts for the analysis step (``1 / analysis_fps``), so N
frames at 7 fps count N/7 seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from cctrace.state import attrs_from_state, attrs_to_state
from cctrace.types import Encounter, Tracklet

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class GroundPath:
    """A tracklet's ground positions on the analysis grid, gap-filled and smoothed."""

    track_id: int
    origin: datetime
    """Time zero of ``times``."""
    times: F64
    """Seconds from ``origin``, increasing, on the analysis grid."""
    xy: F64
    """(N, 2) ground metres."""

    @property
    def start(self) -> float:
        return float(self.times[0])

    @property
    def end(self) -> float:
        return float(self.times[-1])


@dataclass(frozen=True)
class EncounterSettings:
    """How paths are compared."""

    bands_m: tuple[float, ...] = (1.0, 2.0, 3.0)
    step_s: float = 1 / 7
    """The analysis step: what one shared instant counts for."""
    max_gap_s: float = 1.5
    """Drop-outs up to this long are interpolated; longer ones break the path."""
    smooth_s: float = 0.6
    """Width of the moving-average window applied to positions."""

    def __post_init__(self) -> None:
        if not self.bands_m or any(b <= 0 for b in self.bands_m):
            raise ValueError(f"distance bands must be positive metres, got {self.bands_m}")
        if self.step_s <= 0:
            raise ValueError(f"analysis step must be positive, got {self.step_s}")


def ground_path(tracklet: Tracklet, origin: datetime, settings: EncounterSettings) -> GroundPath:
    """The tracklet's ground path resampled on the analysis grid, filled and smoothed."""
    raw_t = np.array([(p.timestamp - origin).total_seconds() for p in tracklet.points])
    raw_xy = np.array([p.ground_xy for p in tracklet.points], dtype=np.float64)
    return make_path(tracklet.track_id, origin, raw_t, raw_xy, settings)


def make_path(
    track_id: int, origin: datetime, times: F64, xy: F64, settings: EncounterSettings
) -> GroundPath:
    """Build a ``GroundPath`` from raw (time, position) samples."""
    order = np.argsort(times, kind="stable")
    t = np.asarray(times, np.float64)[order]
    p = np.asarray(xy, np.float64).reshape(-1, 2)[order]
    step = settings.step_s
    grid_t: list[float] = [float(t[0])]
    grid_xy: list[F64] = [p[0]]
    for k in range(1, len(t)):
        gap = t[k] - t[k - 1]
        if step * 1.5 < gap <= settings.max_gap_s:
            n_missing = round(gap / step) - 1
            for m in range(1, n_missing + 1):
                w = m / (n_missing + 1)
                grid_t.append(float(t[k - 1] + w * gap))
                grid_xy.append((1 - w) * p[k - 1] + w * p[k])
        grid_t.append(float(t[k]))
        grid_xy.append(p[k])
    gt = np.array(grid_t)
    gxy = np.vstack(grid_xy)
    return GroundPath(track_id, origin, gt, _smooth(gt, gxy, settings))


def _smooth(t: F64, xy: F64, settings: EncounterSettings) -> F64:
    half = settings.smooth_s / 2
    if half <= 0 or len(t) < 3:
        return xy
    out = np.empty_like(xy)
    lo = np.searchsorted(t, t - half, side="left")
    hi = np.searchsorted(t, t + half, side="right")
    csum = np.vstack([np.zeros((1, 2)), np.cumsum(xy, axis=0)])
    counts = (hi - lo)[:, None]
    out[:] = (csum[hi] - csum[lo]) / counts
    return out


def encounter_between(
    a: GroundPath, b: GroundPath, camera_id: str, settings: EncounterSettings
) -> Encounter | None:
    """The encounter of two paths, or None when they never came within the widest band."""
    if a.origin != b.origin:
        raise ValueError("paths must share an origin")
    if a.end < b.start or b.end < a.start:
        return None
    tol = settings.step_s / 3
    ia, ib = _match_times(a.times, b.times, tol)
    if len(ia) == 0:
        return None
    dist = np.linalg.norm(a.xy[ia] - b.xy[ib], axis=1)
    widest = max(settings.bands_m)
    near = dist <= widest
    if not near.any():
        return None
    times = a.times[ia]
    steps = np.full(len(times), settings.step_s)
    seconds = {band: float(steps[dist <= band].sum()) for band in sorted(settings.bands_m)}
    first, last = int(np.argmax(near)), len(near) - 1 - int(np.argmax(near[::-1]))
    k = int(np.argmin(dist))
    key = (a.track_id, b.track_id) if a.track_id < b.track_id else (b.track_id, a.track_id)
    return Encounter(
        camera_id=camera_id,
        track_a=key[0],
        track_b=key[1],
        start=a.origin + timedelta(seconds=float(times[first])),
        end=a.origin + timedelta(seconds=float(times[last])),
        seconds_within=seconds,
        min_distance_m=float(dist[k]),
        min_distance_at=a.origin + timedelta(seconds=float(times[k])),
    )


def _match_times(ta: F64, tb: F64, tol: float) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Indices of instants present in both sorted time arrays (within ``tol``)."""
    pos = np.searchsorted(tb, ta)
    ia: list[int] = []
    ib: list[int] = []
    for i, j in enumerate(pos.tolist()):
        best = None
        for cand in (j - 1, j):
            if 0 <= cand < len(tb) and abs(tb[cand] - ta[i]) <= tol:
                best = cand
        if best is not None:
            ia.append(i)
            ib.append(best)
    return np.array(ia, dtype=np.intp), np.array(ib, dtype=np.intp)


class EncounterBuilder:
    """Pairs each finished tracklet with every finished tracklet it overlapped.

    Finished paths are kept only while a still-open track could overlap them.
    """

    def __init__(self, camera_id: str, settings: EncounterSettings) -> None:
        self.camera_id = camera_id
        self.settings = settings
        self._origin: datetime | None = None
        self._finished: dict[int, GroundPath] = {}

    STATE: ClassVar[dict[str, Any]] = {
        "camera_id": str,
        "settings": EncounterSettings,
        "_origin": datetime | None,
        "_finished": dict[int, GroundPath],
    }
    """What :meth:`to_state` holds (name -> type)."""

    def to_state(self) -> dict[str, Any]:
        """Plain numbers, text and arrays (:meth:`from_state` gives it back)."""
        return attrs_to_state(self, self.STATE)

    @classmethod
    def from_state(cls, state: Any) -> EncounterBuilder:
        """The builder :meth:`to_state` described (:class:`~cctrace.state.StateError`)."""
        made = cls.__new__(cls)
        attrs_from_state(made, cls.STATE, state, "encounter builder")
        return made

    def add_finished(self, tracklets: list[Tracklet]) -> list[Encounter]:
        """Register finished tracklets; return their encounters with earlier-finished ones."""
        out: list[Encounter] = []
        for tracklet in tracklets:
            if self._origin is None:
                self._origin = tracklet.start
            path = ground_path(tracklet, self._origin, self.settings)
            for other in self._finished.values():
                enc = encounter_between(path, other, self.camera_id, self.settings)
                if enc is not None:
                    out.append(enc)
            self._finished[tracklet.track_id] = path
        return out

    def forget_before(self, earliest_open: datetime | None) -> None:
        """Drop finished paths that ended before every open track began."""
        if self._origin is None:
            return
        if earliest_open is None:
            self._finished.clear()
            return
        cutoff = (earliest_open - self._origin).total_seconds() - self.settings.step_s
        self._finished = {k: p for k, p in self._finished.items() if p.end >= cutoff}
