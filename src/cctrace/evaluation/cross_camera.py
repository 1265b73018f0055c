"""Following people between cameras that do not overlap, without faces (stage ``cross-camera``).

The scene: PETS2009 S2L1 View_001 cut into two cameras with a blind strip between them
(``gate``: columns 0-320, ``kiosk``: 448-768), linked in the site file with a walking
time of 0-30 s. A person crossing the plaza leaves one view, walks through the strip no
camera sees and appears in the other a few seconds later. PETS faces are about 10 px:
only body appearance and walking time can link the two views.

For every person tracked in both cameras (ground-truth boxes shifted into each cut say
who each tracklet is), a trace starts from their longest tracklet and the suggestions in
the other camera (sightings with a ``link``) are scored:

- **suggestion precision**: suggested tracklets that are the person;
- **chance precision**: the same, had every tracklet in the walking-time window been
  suggested (what appearance ranking adds over time alone);
- **other-camera recall**: the person's tracked time in the other camera that was
  suggested; and **after review**, once a reviewer who knows the truth has confirmed the
  right suggestions and rejected the wrong ones (each confirmation searches onwards);
- **true link in the top 1 / top 3**: every tracklet of the other camera in the seed's
  walking-time window ranked as the trace ranks it (body appearance x walking
  direction, :func:`cctrace.tracing.cross_camera.ranked_candidates`), and the share of
  people with one of their own among the first 1 / 3; the same with each cue switched
  (``CUE_SETS``: with height, body only, body and height, direction only) and **without
  body** (no cue: walking time alone, the nearest in time first).

Nothing here is accepted automatically: body appearance never is.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from cctrace.evaluation.metrics import EvalContext, Metric
from cctrace.evaluation.pets import crop_gt_boxes, load_gt_boxes
from cctrace.evaluation.trace import build_cut_scene, review_every_suggestion
from cctrace.store.records import TrackletRecord
from cctrace.tracing.camera_graph import CameraGraph
from cctrace.tracing.cross_camera import (
    SLACK_S,
    CameraView,
    LinkCues,
    camera_views,
    ranked_candidates,
)

if TYPE_CHECKING:
    from cctrace.store.repository import Store

CROPS = {
    "gate": ("Gate", 0, 320, (-16.0, 8.0)),
    "kiosk": ("Kiosk", 448, 768, (6.0, -16.0)),
}
"""Two 320 px views with a 128 px strip between them that neither sees."""
LINKS = {"gate": "[{to: kiosk, walk_s: [0, 30]}]"}
MIN_VISIBLE_S = 3.0


def build_scene(ctx: EvalContext) -> Path:
    """Cut the two cameras from the shared PETS clip and ingest them (cached)."""
    return build_cut_scene(
        ctx,
        "cross-camera-scene",
        crops=CROPS,
        links_yaml=LINKS,
        name="PETS2009 gate and kiosk (no overlap)",
    )


def evaluate(ctx: EvalContext) -> list[Metric]:
    """Suggestion precision and other-camera recall of body-appearance links."""
    from cctrace.config import load_site
    from cctrace.evaluation.pets import map_tracklets_to_gt
    from cctrace.ingest.models import ModelSet
    from cctrace.store.repository import Store
    from cctrace.tracing.service import TraceRequest, trace_in_store

    pets_dir = ctx.dataset("pets2009-s2l1")
    site = load_site(build_scene(ctx), check_files=False)
    boxes = load_gt_boxes(pets_dir)
    models = ModelSet(site.models)
    graph = CameraGraph.from_site(site)
    suggested = correct = 0
    window_total = window_right = 0
    ranks: dict[str, list[int | None]] = {name: [] for name in CUE_SETS}
    views = camera_views(site)
    truth_s = found_s = reviewed_s = 0.0
    people_scored = 0
    with Store.for_site(site) as store:
        person_of: dict[int, int] = {}
        for cam_id, (_, x0, x1, _) in CROPS.items():
            person_of.update(map_tracklets_to_gt(store, crop_gt_boxes(boxes, x0, x1), cam_id))
        records = {r.id: r for r in store.tracklets.in_window(None, None)}
        seconds = {t: (r.end - r.start).total_seconds() for t, r in records.items()}
        by_person: dict[int, list[int]] = defaultdict(list)
        for tid, gid in person_of.items():
            by_person[gid].append(tid)
        run = uuid.uuid4().hex[:8]
        for gid in sorted(by_person):
            own = set(by_person[gid])
            cameras = {records[t].camera_id for t in own}
            if len(cameras) < 2 or sum(seconds[t] for t in own) < MIN_VISIBLE_S:
                continue
            seed = max(own, key=lambda t: (seconds[t], -records[t].start.timestamp(), -t))
            other_camera = next(c for c in sorted(cameras) if c != records[seed].camera_id)
            other = {t for t in own if records[t].camera_id == other_camera}
            people_scored += 1
            truth_s += sum(seconds[t] for t in other)
            case_id = f"EVAL-X-{run}-{gid}"
            request = TraceRequest(
                case_id=case_id,
                actor="cctrace-eval",
                tracklet_id=seed,
                distance_m=2.0,
                minutes=5 / 60,
                legal_basis="accuracy evaluation on public research footage",
            )
            store.cases.create(case_id, legal_basis=request.legal_basis, created_by="cctrace-eval")
            result = trace_in_store(site, store, request, models)
            links = {s.tracklet_id for s in result.sightings if s.link is not None}
            suggested += len(links)
            correct += len(links & own)
            found_s += sum(seconds[t] for t in links & other)
            window_total, window_right = _in_window(
                graph, records, seed, other_camera, own, window_total, window_right
            )
            person_ranks = _true_link_ranks(
                store,
                graph,
                views,
                records,
                seed,
                other_camera,
                own,
                site.models.body_embedder.type,
            )
            for name, rank in person_ranks.items():
                ranks[name].append(rank)
            result = review_every_suggestion(site, store, request, models, result, own)
            route = {s.tracklet_id for s in result.route}
            reviewed_s += sum(seconds[t] for t in route & other)
    cond = (
        f"2 non-overlapping cameras cut from PETS S2L1 View_001 (128 px blind strip, walk "
        f"0-30 s), {people_scored} people seen in both, each traced from their longest "
        "tracklet; faces unusable (about 10 px): body appearance, walking time, height and "
        "walking direction only (both cuts calibrated, optical centre known)"
    )
    nan = float("nan")

    def metric(
        name: str, value: float, n: int, condition: str, target: float | None = None
    ) -> Metric:
        return Metric("cross-camera", name, value, target=target, n=n, condition=condition)

    def top(ranks: list[int | None], k: int) -> float:
        return sum(r is not None and r <= k for r in ranks) / len(ranks) if ranks else nan

    body = site.models.body_embedder.type
    ranked = cond + "; every tracklet of the other camera in the walking-time window ranked"
    how = {
        "": f"by {body} x walking direction, as the trace ranks them",
        " with height": f"by {body} x walking direction x height",
        " body only": f"by {body} alone",
        " body and height": f"by {body} x height",
        " direction only": "by walking direction (no body appearance), then nearest in time",
        " without body": "by walking time alone (nearest first)",
    }
    metrics = [
        metric(
            f"true link in top {k}{name}",
            top(ranks[name], k),
            len(ranks[name]),
            f"{ranked} {how[name]}",
            target=0.90 if k == 3 and not name else None,
        )
        for name in CUE_SETS
        for k in (1, 3)
    ]
    return [
        *metrics,
        metric("suggestion precision", correct / suggested if suggested else nan, suggested, cond),
        metric(
            "chance precision in the window",
            window_right / window_total if window_total else nan,
            window_total,
            cond + "; had every tracklet in the walking-time window been suggested",
        ),
        metric(
            "other-camera recall",
            found_s / truth_s if truth_s else nan,
            people_scored,
            cond + "; share of their tracked time in the other camera, suggested",
        ),
        metric(
            "other-camera recall reviewed",
            reviewed_s / truth_s if truth_s else nan,
            people_scored,
            cond + "; after a reviewer who knows the truth decides every suggestion",
        ),
    ]


def _in_window(
    graph: CameraGraph,
    records: dict[int, TrackletRecord],
    seed: int,
    other_camera: str,
    own: set[int],
    total: int,
    right: int,
) -> tuple[int, int]:
    """Add the tracklets of ``other_camera`` in the walking-time window of ``seed``."""
    gaps = _window_gaps(graph, records, seed, other_camera)
    return total + len(gaps), right + len(own & gaps.keys())


def _window_gaps(
    graph: CameraGraph, records: dict[int, TrackletRecord], seed: int, other_camera: str
) -> dict[int, float]:
    """Tracklets of ``other_camera`` in the walking-time window of ``seed`` (appearing
    after it left, or leaving before it appeared), with the gap in seconds."""
    s = records[seed]
    window = graph.window(s.camera_id, other_camera)
    if window is None:
        return {}
    low = timedelta(seconds=window.low_s - SLACK_S)
    high = timedelta(seconds=window.high_s + SLACK_S)
    gaps: dict[int, float] = {}
    for tid, r in records.items():
        if r.camera_id != other_camera:
            continue
        if s.end + low <= r.start <= s.end + high:
            gaps[tid] = (r.start - s.end).total_seconds()
        elif s.start - high <= r.end <= s.start - low:
            gaps[tid] = (s.start - r.end).total_seconds()
    return gaps


CUE_SETS: dict[str, LinkCues] = {
    "": LinkCues(),
    " with height": LinkCues(height=True),
    " body only": LinkCues(direction=False),
    " body and height": LinkCues(height=True, direction=False),
    " direction only": LinkCues(body=False),
    " without body": LinkCues(body=False, direction=False),
}
"""Metric name suffix -> the cues ranking the window ("" is what the trace uses);
``without body`` (no cue at all) is the walking time alone, nearest first."""


def _true_link_ranks(
    store: Store,
    graph: CameraGraph,
    views: Mapping[str, CameraView],
    records: dict[int, TrackletRecord],
    seed: int,
    other_camera: str,
    own: set[int],
    model: str,
) -> dict[str, int | None]:
    """1-based rank of the person's best-placed own tracklet among the other camera's
    tracklets in the seed's walking-time window, ranked as the trace ranks them
    (:func:`cctrace.tracing.cross_camera.ranked_candidates`), for each of ``CUE_SETS``
    (None when none of theirs is in the window)."""
    s = records[seed]
    window = graph.window(s.camera_id, other_camera)
    if window is None:
        return dict.fromkeys(CUE_SETS)
    body = store.tracklets.body_embeddings([seed], model=model).get(seed)
    ranks: dict[str, int | None] = {}
    for name, cues in CUE_SETS.items():
        both = [
            item
            for direction in ("after", "before")
            for item in ranked_candidates(
                store, s, body, other_camera, window, direction, model, views, cues
            )
        ]
        both.sort(key=lambda item: (-item[1].score, abs(item[1].gap_s), item[0]))
        ranks[name] = _first([t for t, _ in both], own)
    return ranks


def _first(order: list[int], own: set[int]) -> int | None:
    return next((k + 1 for k, t in enumerate(order) if t in own), None)
