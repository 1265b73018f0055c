"""The camera graph: which cameras are neighbours, and how long a walk between them takes.

A sighting of the case in camera A makes a person in camera B plausible as the case only
if B is a neighbour of A and the person appears there within the walking time after the
case left A (or, going back in time, left B within it before the case appeared in A).

Where the windows come from, in order of trust:

1. **configured**: ``links: [{to: kiosk, walk_s: [20, 90]}]`` on a camera in the site
   file (a link holds both ways). When any camera has links, the configured graph is the
   whole graph: the site's operator knows its walls and doors.
2. **positions**: otherwise, every pair of cameras with site-plan positions at most
   ``max_neighbour_m`` apart, with the straight-line distance walked at 0.5-2 m/s (slow
   stroll to brisk walk) plus a margin for the parts of the route no camera sees; from
   0 s when both are calibrated and their views share floor on the plan.
3. **learned**: :meth:`CameraGraph.learn` widens or sets a window from observed gaps of
   confident cross-camera links: every trace learns from the cases' accepted sightings
   in different cameras (face matches and investigator-confirmed links;
   :func:`cctrace.tracing.service.camera_graph`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Literal

from cctrace.config import SiteConfig

SLOWEST_WALK_MPS = 0.5
FASTEST_WALK_MPS = 2.0
MAX_NEIGHBOUR_M = 300.0
"""Cameras further apart than this (straight line) are not neighbours by position."""
MARGIN_S = 10.0
"""Added to both ends of a window derived from positions (doors, queues, detours)."""
EARTH_RADIUS_M = 6_371_000.0
MIN_OBSERVATIONS = 3
"""Confident links needed before observed gaps set a window on their own."""

WindowSource = Literal["configured", "positions", "learned"]


@dataclass(frozen=True)
class TravelWindow:
    """Plausible seconds between leaving one camera's view and entering another's."""

    low_s: float
    high_s: float
    source: WindowSource
    distance_m: float | None = None
    """Straight-line distance between the cameras, when their positions are known."""

    def contains(self, gap_s: float) -> bool:
        """True when ``gap_s`` (may be negative for overlapping views) fits the window."""
        return self.low_s - 1.0 <= gap_s <= self.high_s + 1.0


class CameraGraph:
    """Neighbouring cameras and their travel windows (symmetric)."""

    def __init__(self, windows: Mapping[tuple[str, str], TravelWindow]) -> None:
        self._windows: dict[tuple[str, str], TravelWindow] = {}
        for (a, b), window in windows.items():
            self._windows[(a, b)] = window
            self._windows.setdefault((b, a), window)

    @classmethod
    def from_site(cls, site: SiteConfig, max_neighbour_m: float = MAX_NEIGHBOUR_M) -> CameraGraph:
        """The graph the site file configures, else the one its camera positions imply."""
        positions = camera_positions_m(site)
        configured = {
            (cam.id, link.to): TravelWindow(
                float(link.walk_s[0]),
                float(link.walk_s[1]),
                "configured",
                _distance(positions, cam.id, link.to),
            )
            for cam in site.cameras
            for link in cam.links
        }
        if configured:
            return cls(configured)
        windows: dict[tuple[str, str], TravelWindow] = {}
        ids = sorted(positions)
        sharing = views_sharing_floor(site)
        for i, a in enumerate(ids):
            for b in ids[i + 1 :]:
                d = _distance(positions, a, b)
                if d is None or d > max_neighbour_m:
                    continue
                low = max(0.0, d / FASTEST_WALK_MPS - MARGIN_S)
                windows[(a, b)] = TravelWindow(
                    0.0 if (a, b) in sharing else low,
                    d / SLOWEST_WALK_MPS + MARGIN_S,
                    "positions",
                    d,
                )
        return cls(windows)

    def window(self, a: str, b: str) -> TravelWindow | None:
        """The travel window from camera ``a`` to ``b``, or None when not neighbours."""
        return self._windows.get((a, b))

    def neighbours(self, camera_id: str) -> list[str]:
        """Cameras one walk away from ``camera_id``, sorted."""
        return sorted(b for (a, b) in self._windows if a == camera_id)

    def plausible(self, a: str, b: str, gap_s: float) -> bool:
        """Could someone leave ``a`` and appear in ``b`` ``gap_s`` seconds later?"""
        window = self.window(a, b)
        return window is not None and window.contains(gap_s)

    def learn(self, observations: Iterable[tuple[str, str, float]]) -> CameraGraph:
        """A graph whose windows also cover observed gaps (a, b, seconds) of confident
        links. With at least ``MIN_OBSERVATIONS`` for a pair that has no configured
        window, the observed range (widened by a quarter) sets it."""
        gaps: dict[tuple[str, str], list[float]] = {}
        for a, b, gap in observations:
            if a == b or not math.isfinite(gap):
                continue
            gaps.setdefault((min(a, b), max(a, b)), []).append(max(0.0, float(gap)))
        windows = {pair: w for pair, w in self._windows.items() if pair[0] < pair[1]}
        for pair, seen in gaps.items():
            low, high = min(seen), max(seen)
            pad = 0.25 * (high - low) + 2.0
            known = windows.get(pair)
            if known is not None and known.source == "configured":
                continue
            if known is not None:
                windows[pair] = replace(
                    known,
                    low_s=min(known.low_s, max(0.0, low - pad)),
                    high_s=max(known.high_s, high + pad),
                )
            elif len(seen) >= MIN_OBSERVATIONS:
                windows[pair] = TravelWindow(max(0.0, low - pad), high + pad, "learned")
        return CameraGraph(windows)


def camera_positions_m(site: SiteConfig) -> dict[str, tuple[float, float]]:
    """Site-plan metres of each camera: its ``x_m``/``y_m``, else its lat/lon projected
    (equirectangular, about the site's mean latitude) when no camera has ``x_m``/``y_m``."""
    xy = {
        c.id: (float(c.location.x_m), float(c.location.y_m))
        for c in site.cameras
        if c.location.x_m is not None and c.location.y_m is not None
    }
    if xy:
        return xy
    ll = {
        c.id: (float(c.location.lat), float(c.location.lon))
        for c in site.cameras
        if c.location.lat is not None and c.location.lon is not None
    }
    if not ll:
        return {}
    mean_lat = math.radians(sum(lat for lat, _ in ll.values()) / len(ll))
    return {
        cid: (
            EARTH_RADIUS_M * math.radians(lon) * math.cos(mean_lat),
            EARTH_RADIUS_M * math.radians(lat),
        )
        for cid, (lat, lon) in ll.items()
    }


def views_sharing_floor(site: SiteConfig) -> set[tuple[str, str]]:
    """Pairs (sorted) of calibrated cameras whose views share floor on the site plan:
    someone can step from one view into the other at once, however far apart the
    cameras themselves hang (:func:`cctrace.tracing.body_cues.regions_overlap`)."""
    from cctrace.tracing.body_cues import regions_overlap, view_region_m

    regions = {
        c.id: region
        for c in site.cameras
        if c.calibration is not None
        and (region := view_region_m(c.model_dump(mode="json"))) is not None
    }
    ids = sorted(regions)
    return {
        (a, b)
        for i, a in enumerate(ids)
        for b in ids[i + 1 :]
        if regions_overlap(regions[a], regions[b])
    }


def _distance(positions: Mapping[str, tuple[float, float]], a: str, b: str) -> float | None:
    if a not in positions or b not in positions:
        return None
    (ax, ay), (bx, by) = positions[a], positions[b]
    return math.hypot(ax - bx, ay - by)
