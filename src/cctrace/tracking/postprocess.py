"""Offline clean-up of a camera's track paths: fragment linking, gap filling, box smoothing.

The online tracker (SORT / ByteTrack at 7 fps) loses people for a moment behind others
or when the detector misses them, and starts a new track when they reappear. Before a
tracklet is stored, :class:`~cctrace.tracking.tracklets.TrackletBuilder` uses these
functions to

* join a lost track to a track that started shortly after where the lost one was heading
  (:func:`link_cost`: both ends' motion, fitted over about a second, must meet);
* fill the gaps inside a track by linear interpolation (:func:`fill_gaps`), so a person
  hidden for a second is still where they were; filled points have confidence 0;
* smooth the box geometry along the track (:func:`smooth_boxes`: moving average of
  centre, width and height), which removes the detector's frame-to-frame jitter.

Measured on PETS2009 S2L1 View_001 (``cctrace eval``, stage ``mot``; see
:mod:`cctrace.evaluation.mot`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta

import numpy as np

from cctrace.types import TrackPoint


@dataclass(frozen=True)
class PostSettings:
    """How finished tracks are cleaned up (times in seconds of footage).

    Attributes:
        step_s: time between analysed frames (1 / analysis rate).
        link_gap_s: a track lost for at most this long may continue as a later track
            (0 disables linking).
        link_overlap_s: ... or as a track that started at most this long before it was lost.
        link_max_cost: largest motion mismatch accepted: distance between the two ends'
            extrapolated foot points in person heights plus the log height ratio.
        fit_s: length of path at each end whose velocity is fitted.
        velocity_weight: cost per (person height per second) of velocity change
            between the two ends (someone turning back is not the same walk).
        fill_gap_s: gaps inside a track up to this long are interpolated (0: none).
        smooth_s: moving-average window for box centre and size (0: none).
    """

    step_s: float = 1 / 7
    link_gap_s: float = 2.0
    link_overlap_s: float = 0.3
    link_max_cost: float = 1.2
    fit_s: float = 1.0
    fill_gap_s: float = 2.0
    smooth_s: float = 0.7
    velocity_weight: float = 0.25


def _foot_and_height(points: Sequence[TrackPoint]) -> np.ndarray:
    """(N, 3): foot x, foot y, box height of each point (pixels)."""
    b = np.asarray([p.xyxy for p in points], np.float64).reshape(-1, 4)
    return np.column_stack([(b[:, 0] + b[:, 2]) / 2, b[:, 3], b[:, 3] - b[:, 1]])


def _fit(points: Sequence[TrackPoint], origin: float) -> tuple[np.ndarray, np.ndarray]:
    """(value at time 0, slope per second) of foot x, foot y and height, by least squares
    over ``points``; times are seconds relative to ``origin`` (a POSIX timestamp)."""
    t = np.asarray([p.timestamp.timestamp() - origin for p in points])
    v = _foot_and_height(points)
    if len(points) < 2 or float(np.ptp(t)) <= 0:
        return v.mean(axis=0), np.zeros(3)
    a = np.column_stack([t, np.ones_like(t)])
    sol = np.linalg.lstsq(a, v, rcond=None)[0]
    return sol[1], sol[0]


def link_cost(
    earlier: Sequence[TrackPoint], later: Sequence[TrackPoint], settings: PostSettings
) -> float:
    """Motion mismatch between the end of ``earlier`` and the start of ``later``.

    Each end's foot point and height are fitted over ``fit_s`` seconds and extrapolated to
    the middle of the gap; the cost is the distance between the two foot points in person
    heights, plus ``|log(h1 / h2)|``, plus ``velocity_weight`` times the change of velocity
    in heights per second. ``inf`` when the timing rules out a link.
    """
    if not earlier or not later:
        return float("inf")
    end, start = earlier[-1].timestamp, later[0].timestamp
    gap = (start - end).total_seconds()
    if gap > settings.link_gap_s or gap < -settings.link_overlap_s:
        return float("inf")
    if later[-1].timestamp <= end or start <= earlier[0].timestamp:
        return float("inf")
    window = timedelta(seconds=settings.fit_s)
    tail = [p for p in earlier if p.timestamp >= end - window]
    head = [p for p in later if p.timestamp <= start + window]
    origin = end.timestamp() + gap / 2
    pa, va = _fit(tail, origin)  # both ends extrapolated to the middle of the gap
    pb, vb = _fit(head, origin)
    height = max((pa[2] + pb[2]) / 2, 1.0)
    dist = float(np.hypot(pa[0] - pb[0], pa[1] - pb[1])) / height
    turn = float(np.hypot(va[0] - vb[0], va[1] - vb[1])) / height  # heights per second
    size = abs(float(np.log(max(pa[2], 1.0) / max(pb[2], 1.0))))
    return dist + size + settings.velocity_weight * turn


def fill_gaps(points: Sequence[TrackPoint], settings: PostSettings) -> list[TrackPoint]:
    """Points with gaps up to ``fill_gap_s`` filled by linear interpolation (confidence 0).

    A gap of ``n`` missing analysis steps gets ``n`` points, evenly spaced in time, with
    frame indices interpolated between its ends.
    """
    out: list[TrackPoint] = []
    for p in points:
        if out and settings.fill_gap_s > 0:
            a = out[-1]
            gap = (p.timestamp - a.timestamp).total_seconds()
            missing = round(gap / settings.step_s) - 1
            if missing >= 1 and gap <= settings.fill_gap_s + 1e-9:
                for k in range(1, missing + 1):
                    w = k / (missing + 1)
                    frame = round(a.frame_index + w * (p.frame_index - a.frame_index))
                    if frame <= out[-1].frame_index or frame >= p.frame_index:
                        continue
                    out.append(
                        TrackPoint(
                            frame_index=frame,
                            timestamp=a.timestamp + (p.timestamp - a.timestamp) * w,
                            xyxy=_lerp4(a.xyxy, p.xyxy, w),
                            ground_xy=(
                                a.ground_xy[0] + w * (p.ground_xy[0] - a.ground_xy[0]),
                                a.ground_xy[1] + w * (p.ground_xy[1] - a.ground_xy[1]),
                            ),
                            confidence=0.0,
                        )
                    )
        out.append(p)
    return out


def _lerp4(
    a: tuple[float, float, float, float], b: tuple[float, float, float, float], w: float
) -> tuple[float, float, float, float]:
    return (
        a[0] + w * (b[0] - a[0]),
        a[1] + w * (b[1] - a[1]),
        a[2] + w * (b[2] - a[2]),
        a[3] + w * (b[3] - a[3]),
    )


def smooth_boxes(points: Sequence[TrackPoint], settings: PostSettings) -> list[TrackPoint]:
    """Boxes replaced by a centred moving average of centre, width and height over
    ``smooth_s`` (an odd number of points, shrinking at the ends); the rest unchanged."""
    n = len(points)
    half = round(settings.smooth_s / settings.step_s) // 2 if settings.step_s > 0 else 0
    if n < 3 or half < 1:
        return list(points)
    b = np.asarray([p.xyxy for p in points], np.float64)
    geo = np.column_stack(
        [(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2, b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]]
    )
    csum = np.vstack([np.zeros((1, 4)), np.cumsum(geo, axis=0)])
    out: list[TrackPoint] = []
    for i, p in enumerate(points):
        k = min(half, i, n - 1 - i)  # symmetric window: no drift at the ends
        cx, cy, w, h = (csum[i + k + 1] - csum[i - k]) / (2 * k + 1)
        box = (float(cx - w / 2), float(cy - h / 2), float(cx + w / 2), float(cy + h / 2))
        out.append(replace(p, xyxy=box))
    return out


def clean_path(points: Sequence[TrackPoint], settings: PostSettings) -> list[TrackPoint]:
    """:func:`fill_gaps` then :func:`smooth_boxes`."""
    return smooth_boxes(fill_gaps(points, settings), settings)
