"""Follow the case from camera to camera without a face: body appearance x travel time
x height x direction.

From each accepted sighting, the people in neighbouring cameras (the camera graph,
:mod:`cctrace.tracing.camera_graph`) who appeared within the walking time after the case
left (or left within it before the case appeared) are ranked by the sum of what each cue
says, in the same unit (the log of how much likelier the cue's value is for the same
person than for someone else):

- **body appearance**: the cosine of the tracklets' body embeddings
  (:mod:`cctrace.vision.body`);
- **height**: with calibrated cameras, the two tracklets' median heights in metres
  (:mod:`cctrace.tracing.body_cues`);
- **direction**: with calibrated cameras, whether the one who left was heading towards
  the other camera's view, and whether the one who appeared walked in from the first
  camera's side.

The best few per camera and direction go to the investigator's review band with their
evidence: whose sighting they continue, the gap in seconds, the distance between the
cameras, the similarity, both heights, which way each was walking.

They are never accepted on their own: body appearance alone tells people apart only
about half the time at CCTV size (PETS S2L1 ground-truth crops, rank-1 0.53 for the
default descriptor; ``bench/body_reid.py``), far from the 95% precision a machine
decision would need, and the combined score has not been measured that precise either.
A confirmed candidate becomes an accepted sighting, and the next trace searches onwards
from it in both directions; a rejected one never returns.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

from cctrace.store.records import TrackletRecord
from cctrace.store.repository import Store
from cctrace.tracing.body_cues import (
    HeightGeometry,
    TrackletHeight,
    away_from,
    heading,
    nearest_in_region,
    regions_overlap,
    towards,
    tracklet_height,
    view_region_m,
)
from cctrace.tracing.camera_graph import CameraGraph, TravelWindow
from cctrace.tracing.result import CameraLinkEvidence
from cctrace.types import TrackPoint

if TYPE_CHECKING:
    from cctrace.config import SiteConfig

MIN_BODY_SIMILARITY = 0.6
"""Candidates less similar than this are not suggested. On PETS S2L1 ground-truth
crops (part-colour descriptor) 91% of same-person pairs seen >= 7 s apart score at least
this, and 49% of different-person pairs (``bench/body_reid.py --similarity``): a
permissive floor; the ranking, the travel time and the investigator do the rest."""
PER_CAMERA = 2
"""Suggestions per accepted sighting, neighbouring camera and direction."""
SLACK_S = 1.0
"""Time stamps and track ends are not exact: windows are widened by this much."""


BODY_SAME = (0.80, 0.12)
BODY_OTHER = (0.65, 0.12)
"""Mean and spread of the body cosine of the same person and of two different people,
seen >= 7 s apart (PETS S3-MF1 ground-truth crops, part-colour descriptor, a sequence
no cue weight was chosen on: half of same-person pairs reach 0.80, 11% of different
pairs do; ``bench/body_reid.py --sequence pets2009-s3mf1 --similarity``)."""
HEIGHT_GEOMETRY_SD_M = 0.04
"""Error of one camera's height estimate beyond its boxes' own noise (about 2% of a
1.8 m person across WILDTRACK's seven views with the optical centre known;
``bench/body_height.py``)."""
HEIGHT_TRACKLET_SD_M = 0.09
"""Error of a tracklet's median height that its own boxes do not show: detector boxes
cut at the feet by an occluder or stretched by a neighbour stay wrong for seconds. On
the two-camera PETS scene's detections (every pair of tracklets, not only the
evaluated people), two tracklets of the same person differ by a median 0.085 m, two
of different people by 0.092 m (``cctrace eval --stage cross-camera``, condition notes)."""
HEIGHT_PEOPLE_SD_M = 0.08
"""Spread of adults' heights: two different people differ by this much more (the 19
people of PETS S2L1, hand-annotated boxes: median difference 0.089 m)."""
HEIGHT_FLOOR = -3.0
"""A height difference never says more against a candidate than this (occluded or
cut-off boxes make heights wrong, not people different)."""
DIRECTION_KAPPA = 1.0
"""How much the walking direction counts: for the same person the cosine between the
walk and the way to the other camera leans towards +1 (``exp(kappa * cos)``), for
anyone else it is taken as uniform. Deliberately mild: people turn, and a track that
ends at an occlusion ends with whatever direction it had."""


@dataclass(frozen=True)
class LinkCues:
    """Which cues rank the candidates (the evaluation switches each to measure it).

    Height is off by default: on the two-camera PETS scene's detector boxes two
    tracklets of the same person differ in height about as much as two people do, and
    adding it moved the true link from first place for one of 10 people and into the
    top 3 for none (``cctrace eval --stage cross-camera``, "with height"). It is still
    measured and shown to the investigator as evidence.
    """

    body: bool = True
    height: bool = False
    direction: bool = True


@dataclass(frozen=True)
class CameraView:
    """What the cues need to know of a camera: its height geometry (None without an
    optical centre) and what it sees on the site plan (None without calibration)."""

    geometry: HeightGeometry | None = None
    region_m: npt.NDArray[np.float64] | None = None
    """Convex polygon (N, 2), site metres (:func:`cctrace.tracing.body_cues.view_region_m`)."""


def camera_views(site: SiteConfig) -> dict[str, CameraView]:
    """The site's calibrated cameras as the cues see them."""
    views: dict[str, CameraView] = {}
    for camera in site.cameras:
        calibration = camera.calibration
        if calibration is None:
            continue
        centre = calibration.principal_point_px
        views[camera.id] = CameraView(
            None if centre is None else HeightGeometry.of(calibration.homography().matrix, centre),
            view_region_m(camera.model_dump(mode="json")),
        )
    return views


def body_term(similarity: float) -> float:
    """Log-likelihood ratio of a body cosine, same person vs someone else."""
    return _log_ratio_normal(similarity, BODY_SAME, BODY_OTHER)


def height_term(a: TrackletHeight | None, b: TrackletHeight | None) -> float:
    """Log-likelihood ratio of two tracklets' heights (0 when either is unknown).

    The same person's two heights differ by the cameras' geometric error and each
    tracklet's own error (noisy boxes, few seconds: the cue then says little);
    different people's by that and the spread of people's heights.
    """
    if a is None or b is None:
        return 0.0
    same = math.sqrt(
        2 * (HEIGHT_GEOMETRY_SD_M**2 + HEIGHT_TRACKLET_SD_M**2) + a.error_m**2 + b.error_m**2
    )
    other = math.sqrt(same**2 + 2 * HEIGHT_PEOPLE_SD_M**2)
    d = a.median_m - b.median_m
    return max(HEIGHT_FLOOR, _log_ratio_normal(d, (0.0, same), (0.0, other)))


def direction_term(cosine: float | None) -> float:
    """Log-likelihood ratio of a walking direction's cosine (0 when unknown)."""
    if cosine is None:
        return 0.0
    k = DIRECTION_KAPPA
    return k * cosine - math.log(math.sinh(k) / k)


def link_score(
    body_similarity: float | None,
    heights: tuple[TrackletHeight | None, TrackletHeight | None],
    exit_cos: float | None,
    entry_cos: float | None,
    cues: LinkCues = LinkCues(),
) -> float:
    """A candidate's ranking score: the sum of the cues' log-likelihood ratios (a body
    cosine of None, no embedding on one side, counts as -1)."""
    score = 0.0
    if cues.body:
        score += body_term(-1.0 if body_similarity is None else body_similarity)
    if cues.height:
        score += height_term(*heights)
    if cues.direction:
        score += direction_term(exit_cos) + direction_term(entry_cos)
    return score


def _log_ratio_normal(x: float, same: tuple[float, float], other: tuple[float, float]) -> float:
    (m1, s1), (m2, s2) = same, other
    return math.log(s2 / s1) - 0.5 * ((x - m1) / s1) ** 2 + 0.5 * ((x - m2) / s2) ** 2


def body_candidates(
    store: Store,
    graph: CameraGraph,
    accepted: Sequence[TrackletRecord],
    exclude: Collection[int],
    model: str,
    min_similarity: float = MIN_BODY_SIMILARITY,
    per_camera: int = PER_CAMERA,
    views: Mapping[str, CameraView] | None = None,
    cues: LinkCues = LinkCues(),
) -> dict[int, CameraLinkEvidence]:
    """Tracklets of neighbouring cameras that may be the case, with their evidence.

    ``exclude`` (already sightings, or rejected) are never returned. Only tracklets with a
    body embedding of ``model`` on both sides can be compared; ``views`` (calibrated
    cameras, :func:`camera_views`) add height and direction to the ranking.
    """
    if not accepted:
        return {}
    bodies = store.tracklets.body_embeddings([r.id for r in accepted], model=model)
    found: dict[int, CameraLinkEvidence] = {}
    for sighting in accepted:
        body = bodies.get(sighting.id)
        if body is None:
            continue
        for camera in graph.neighbours(sighting.camera_id):
            window = graph.window(sighting.camera_id, camera)
            if window is None:
                continue
            for direction in ("after", "before"):
                ranked = ranked_candidates(
                    store,
                    sighting,
                    body,
                    camera,
                    window,
                    direction,
                    model,
                    views or {},
                    cues,
                    exclude=exclude,
                )
                kept = [(t, e) for t, e in ranked if e.body_similarity >= min_similarity]
                for tid, evidence in kept[:per_camera]:
                    known = found.get(tid)
                    if known is None or evidence.score > known.score:
                        found[tid] = evidence
    return found


def ranked_candidates(
    store: Store,
    sighting: TrackletRecord,
    body: np.ndarray | None,
    camera: str,
    window: TravelWindow,
    direction: Literal["after", "before"],
    model: str,
    views: Mapping[str, CameraView],
    cues: LinkCues = LinkCues(),
    exclude: Collection[int] = (),
) -> list[tuple[int, CameraLinkEvidence]]:
    """Every tracklet of ``camera`` in the walking-time window of ``sighting`` (appearing
    after it left, or leaving before it appeared), best first, with its evidence.

    Without ``body`` (or without a candidate's) the body cosine counts as -1 when
    ``cues.body`` is on; ties go to the nearest in time, then the lowest id.
    """
    low = timedelta(seconds=window.low_s - SLACK_S)
    high = timedelta(seconds=window.high_s + SLACK_S)
    if direction == "after":
        t_from, t_to = sighting.end + low, sighting.end + high
    else:
        t_from, t_to = sighting.start - high, sighting.start - low
    nearby = [
        r
        for r in store.tracklets.in_window(t_from, t_to, camera_ids=[camera])
        if r.id not in exclude
        and (t_from <= r.start <= t_to if direction == "after" else t_from <= r.end <= t_to)
    ]
    if not nearby:
        return []
    others = (
        store.tracklets.body_embeddings([r.id for r in nearby], model=model)
        if body is not None
        else {}
    )
    here, there = views.get(sighting.camera_id, CameraView()), views.get(camera, CameraView())
    geometric = any(v.geometry is not None or v.region_m is not None for v in (here, there))
    points = store.tracklets.points_of([sighting.id, *(r.id for r in nearby)]) if geometric else {}
    own = points.get(sighting.id, ())
    if (
        here.region_m is not None
        and there.region_m is not None
        and regions_overlap(here.region_m, there.region_m)
    ):
        here, there = replace(here, region_m=None), replace(there, region_m=None)
    case_height = tracklet_height(here.geometry, own)
    out = []
    for r in nearby:
        other = others.get(r.id)
        similarity = float(np.dot(body, other)) if body is not None and other is not None else -1.0
        theirs = points.get(r.id, ())
        if direction == "after":
            gap = (r.start - sighting.end).total_seconds()
            exit_cos = _cos(own, "exit", there.region_m)
            entry_cos = _cos(theirs, "entry", here.region_m)
        else:
            gap = (sighting.start - r.end).total_seconds()
            exit_cos = _cos(theirs, "exit", here.region_m)
            entry_cos = _cos(own, "entry", there.region_m)
        their_height = tracklet_height(there.geometry, theirs)
        score = link_score(similarity, (case_height, their_height), exit_cos, entry_cos, cues)
        evidence = CameraLinkEvidence(
            from_tracklet_id=sighting.id,
            from_camera_id=sighting.camera_id,
            direction=direction,
            gap_s=round(gap, 3),
            window_s=(window.low_s, window.high_s),
            window_source=window.source,
            distance_m=window.distance_m,
            body_similarity=round(similarity, 4),
            case_height_m=None if case_height is None else round(case_height.median_m, 3),
            candidate_height_m=None if their_height is None else round(their_height.median_m, 3),
            exit_cos=_round(exit_cos, 3),
            entry_cos=_round(entry_cos, 3),
            score=round(score, 4),
        )
        out.append((r.id, evidence))
    out.sort(key=lambda item: (-item[1].score, abs(item[1].gap_s), item[0]))
    return out


def _cos(
    points: Sequence[TrackPoint],
    end: Literal["exit", "entry"],
    other: npt.NDArray[np.float64] | None,
) -> float | None:
    """Exit: heading towards the ``other`` view; entry: walking in from its side."""
    if other is None or not points:
        return None
    h = heading(points, end)
    if h is None:
        return None
    nearest = nearest_in_region(other, h.x_m, h.y_m)
    if nearest is None:
        return None
    return towards(h, nearest) if end == "exit" else away_from(h, nearest)


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)
