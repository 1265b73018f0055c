"""Follow the case from camera to camera without a face: body appearance x travel time.

From each accepted sighting, the people in neighbouring cameras (the camera graph,
:mod:`cctrace.tracing.camera_graph`) who appeared within the walking time after the case
left (or left within it before the case appeared) are ranked by body appearance (cosine
of the tracklets' body embeddings, :mod:`cctrace.vision.body`). The best few per camera
and direction go to the investigator's review band with their evidence: whose sighting
they continue, the gap in seconds, the distance between the cameras, the similarity.

They are never accepted on their own: body appearance alone tells people apart only
about half the time at CCTV size (PETS S2L1 ground-truth crops, rank-1 0.53 for the
default descriptor; ``bench/body_reid.py``), far from the 95% precision a machine
decision would need. A confirmed candidate becomes an accepted sighting, and the next
trace searches onwards from it in both directions; a rejected one never returns.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import timedelta
from typing import Literal

import numpy as np

from cctrace.store.records import TrackletRecord
from cctrace.store.repository import Store
from cctrace.tracing.camera_graph import CameraGraph, TravelWindow
from cctrace.tracing.result import CameraLinkEvidence

MIN_BODY_SIMILARITY = 0.6
"""Candidates less similar than this are not suggested. On PETS S2L1 ground-truth
crops (part-colour descriptor) 91% of same-person pairs seen >= 7 s apart score at least
this, and 49% of different-person pairs (``bench/body_reid.py --similarity``): a
permissive floor; the ranking, the travel time and the investigator do the rest."""
PER_CAMERA = 2
"""Suggestions per accepted sighting, neighbouring camera and direction."""
SLACK_S = 1.0
"""Time stamps and track ends are not exact: windows are widened by this much."""


def body_candidates(
    store: Store,
    graph: CameraGraph,
    accepted: Sequence[TrackletRecord],
    exclude: Collection[int],
    model: str,
    min_similarity: float = MIN_BODY_SIMILARITY,
    per_camera: int = PER_CAMERA,
) -> dict[int, CameraLinkEvidence]:
    """Tracklets of neighbouring cameras that may be the case, with their evidence.

    ``exclude`` (already sightings, or rejected) are never returned. Only tracklets with a
    body embedding of ``model`` on both sides can be compared.
    """
    if not accepted:
        return {}
    bodies = store.body_embeddings([r.id for r in accepted], model=model)
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
                for tid, evidence in _ranked(
                    store,
                    sighting,
                    body,
                    camera,
                    window,
                    direction,
                    exclude,
                    model,
                    min_similarity,
                )[:per_camera]:
                    known = found.get(tid)
                    if known is None or evidence.body_similarity > known.body_similarity:
                        found[tid] = evidence
    return found


def _ranked(
    store: Store,
    sighting: TrackletRecord,
    body: np.ndarray,
    camera: str,
    window: TravelWindow,
    direction: Literal["after", "before"],
    exclude: Collection[int],
    model: str,
    min_similarity: float,
) -> list[tuple[int, CameraLinkEvidence]]:
    low = timedelta(seconds=window.low_s - SLACK_S)
    high = timedelta(seconds=window.high_s + SLACK_S)
    if direction == "after":
        t_from, t_to = sighting.end + low, sighting.end + high
    else:
        t_from, t_to = sighting.start - high, sighting.start - low
    nearby = [
        r
        for r in store.tracklets_in_window(t_from, t_to, camera_ids=[camera])
        if r.id not in exclude
        and (t_from <= r.start <= t_to if direction == "after" else t_from <= r.end <= t_to)
    ]
    if not nearby:
        return []
    others = store.body_embeddings([r.id for r in nearby], model=model)
    out = []
    for r in nearby:
        other = others.get(r.id)
        if other is None:
            continue
        similarity = float(np.dot(body, other))
        if similarity < min_similarity:
            continue
        gap = (
            (r.start - sighting.end).total_seconds()
            if direction == "after"
            else (sighting.start - r.end).total_seconds()
        )
        out.append(
            (
                r.id,
                CameraLinkEvidence(
                    from_tracklet_id=sighting.id,
                    from_camera_id=sighting.camera_id,
                    direction=direction,
                    gap_s=round(gap, 3),
                    window_s=(window.low_s, window.high_s),
                    window_source=window.source,
                    distance_m=window.distance_m,
                    body_similarity=round(similarity, 4),
                ),
            )
        )
    out.sort(key=lambda item: (-item[1].body_similarity, item[0]))
    return out
