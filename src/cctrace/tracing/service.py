"""Trace a case: search faces, classify hits, build the route and the close contacts.

Every trace belongs to a case and is written to the audit log, whether it
succeeds or fails. Sightings a person rejected never come back; sightings a
person confirmed become extra queries (query expansion).
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from cctrace.config import SiteConfig
from cctrace.errors import CctraceError, NotFoundError, QueryError
from cctrace.ingest.models import ModelSet
from cctrace.store.face_indexes import open_face_index
from cctrace.store.records import (
    AlreadyExistsError,
    CameraRecord,
    EncounterRecord,
    SightingRecord,
    TrackletRecord,
)
from cctrace.store.repository import Store
from cctrace.tracing.camera_graph import CameraGraph, views_sharing_floor
from cctrace.tracing.contacts import (
    BY_FACE,
    BY_MOTION,
    BY_SHARED_PATH,
    PersonGroups,
    Span,
    group_contacts,
    join_people,
    link_same_person,
    seconds_at_distance,
)
from cctrace.tracing.cross_camera import body_candidates, camera_views
from cctrace.tracing.overlap_encounters import cross_view_encounters
from cctrace.tracing.query import embed_photo
from cctrace.tracing.result import (
    CameraInfo,
    CameraLinkEvidence,
    EncounterResult,
    LooseFaceResult,
    PathPoint,
    SightingResult,
    TraceQuery,
    TraceResult,
)
from cctrace.tracing.stitching import (
    MAX_GAP_S,
    Fragment,
    linked_fragments,
    make_fragment,
)
from cctrace.tracking.encounters import EncounterSettings, make_path
from cctrace.types import SightingStatus, TrackPoint

log = logging.getLogger(__name__)

NEIGHBOUR_CAMERA_M = 100.0
"""Cameras this close may see the same person at once (checked for shared paths)."""
MAX_STITCH_ROUNDS = 20
"""Continuity links are followed at most this many hops out from a face match."""


@dataclass(frozen=True)
class TraceRequest:
    """One investigator's trace: a case, query photos or a tracklet, a window, thresholds."""

    case_id: str
    actor: str
    photos: tuple[Path, ...] = ()
    tracklet_id: int | None = None
    window_from: datetime | None = None
    window_to: datetime | None = None
    distance_m: float = 2.0
    minutes: float = 15.0
    legal_basis: str = "not stated"
    accept_threshold: float | None = None
    review_threshold: float | None = None


CASE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_case_id(case_id: str) -> str:
    """A case id safe as a folder name; ``QueryError`` naming the rule otherwise."""
    if not CASE_ID.fullmatch(case_id) or case_id in (".", ".."):
        raise QueryError(
            f"case id {case_id!r} must be 1-64 letters, digits, '.', '_' or '-', starting "
            "with a letter or digit"
        )
    return case_id


def trace_case(
    site: SiteConfig, store: Store, request: TraceRequest, models: ModelSet
) -> TraceResult:
    """Check the request's photos and tracklet, open its case and trace it, audited.

    Bad input fails before the case exists (an unusable photo or an unknown tracklet
    must not leave a case behind), and the failed attempt is still audited. The trace
    embeds the photos again (~20 ms each).
    """
    validate_request(site, request)
    try:
        for photo in request.photos:
            embed_photo(photo, models)
        if request.tracklet_id is not None:
            store.tracklets.get(request.tracklet_id)  # NotFoundError names the id
    except CctraceError as exc:
        store.audit.append(
            request.actor,
            "trace",
            request.case_id,
            _audit_query(request),
            {"error": f"{type(exc).__name__}: {exc}"},
        )
        raise
    _ensure_case(store, request)
    return audited_trace(site, store, request, models)


def validate_request(site: SiteConfig, request: TraceRequest) -> None:
    """``QueryError`` naming the problem when a request's case id, window, thresholds or
    distance are unusable."""
    check_case_id(request.case_id)
    if request.window_from and request.window_to and request.window_from > request.window_to:
        raise QueryError(
            f"the window starts ({request.window_from.isoformat()}) after it ends "
            f"({request.window_to.isoformat()})"
        )
    accept = _pick(request.accept_threshold, site.trace.accept_threshold)
    review = _pick(request.review_threshold, site.trace.review_threshold)
    if not -1 <= review <= accept <= 1:
        raise QueryError(
            f"thresholds must satisfy -1 <= review ({review:g}) <= accept ({accept:g}) <= 1"
        )
    check_distance(site, request.distance_m)
    if not (math.isfinite(request.minutes) and 0 < request.minutes <= MINUTES_MAX):
        raise QueryError(
            f"minutes {request.minutes:g}: the close-contact time must be above 0 and at "
            f"most {MINUTES_MAX:g} (24 hours)"
        )


MINUTES_MAX = 24 * 60.0
"""Close-contact minutes are summed over any 24 hours: more can never be reached."""


def check_distance(site: SiteConfig, distance_m: float, name: str = "distance") -> float:
    """``distance_m`` when a trace can answer it: above 0 and at most the widest distance
    band measured at ingest; ``QueryError`` naming that band and how to widen it otherwise
    (checked before any photo is read or any case is opened)."""
    widest = max(site.ingest.distance_bands_m)
    bands = ", ".join(f"{b:g}" for b in site.ingest.distance_bands_m)
    if not (math.isfinite(distance_m) and 0 < distance_m <= widest):
        raise QueryError(
            f"{name} {distance_m:g} m: must be above 0 and at most {widest:g} m, the widest "
            f"distance band measured at ingest (bands: {bands} m); "
            "to trace farther, add a wider band to ingest.distance_bands_m in the site file "
            "and re-ingest the footage"
        )
    return distance_m


ProgressFn = Callable[[str, float], None]
"""Called with a stage name and the fraction of the trace done (0..1)."""


def _no_progress(stage: str, fraction: float) -> None:
    return None


def audited_trace(
    site: SiteConfig,
    store: Store,
    request: TraceRequest,
    models: ModelSet,
    progress: ProgressFn | None = None,
) -> TraceResult:
    """:func:`trace_in_store` with its audit entry (written on success and on failure)."""
    audit_query = _audit_query(request)
    try:
        result = trace_in_store(site, store, request, models, progress)
    except Exception as exc:
        store.audit.append(
            request.actor,
            "trace",
            request.case_id,
            audit_query,
            {"error": f"{type(exc).__name__}: {exc}"},
        )
        raise
    store.audit.append(
        request.actor,
        "trace",
        request.case_id,
        audit_query,
        {
            "sightings_accepted": len(result.route),
            "sightings_review": sum(
                s.status == SightingStatus.NEEDS_REVIEW for s in result.sightings
            ),
            "contacts": len(result.contacts),
            "close_contacts": sum(c.is_close_contact for c in result.contacts),
            "loose_faces_review": len(result.loose_faces),
        },
    )
    return result


def trace_in_store(
    site: SiteConfig,
    store: Store,
    request: TraceRequest,
    models: ModelSet,
    progress: ProgressFn | None = None,
) -> TraceResult:
    """The trace itself, over an open store (no report, no audit): query faces, face
    search, verdicts, links without a face, sightings, contacts, notes."""
    report = progress or _no_progress
    accept = _pick(request.accept_threshold, site.trace.accept_threshold)
    review = _pick(request.review_threshold, site.trace.review_threshold)
    report("reading the query photos", 0.05)
    decided = {
        s.tracklet_id: s
        for s in store.sightings.of_case(request.case_id)
        if s.decided_by is not None
    }
    queries, scores = _queries(store, request, models, decided)
    report("searching the face index", 0.3)
    _search_faces(site, store, request, queries, review, scores)
    # This trace's own verdicts; a person's decision on a sighting always wins.
    human = {tid: d.status for tid, d in decided.items()}
    statuses = {
        tid: human.get(
            tid, SightingStatus.ACCEPTED if score >= accept else SightingStatus.NEEDS_REVIEW
        )
        for tid, score in scores.items()
        if score >= review
    }
    report("following tracks across cameras", 0.55)
    linked = _link_fragments(store, scores, statuses, accept)
    for tid in linked:
        # Continuity links are right about 85% of the time in a crowd (PETS S2L1): they are
        # suggestions for the investigator, never accepted without a person's decision.
        # Shared ground paths in overlapping cameras too: one step of that rule was 99.6%
        # right on WILDTRACK's annotated boxes, but only 41.9% (of time) on the PETS
        # two-camera scene with real detections (cctrace eval --stage trace).
        statuses[tid] = human.get(tid, SightingStatus.NEEDS_REVIEW)
    report("following the case to neighbouring cameras", 0.65)
    links = _camera_links(site, store, statuses, decided)
    for tid, evidence in links.items():
        # Body appearance alone is right about half the time: always the investigator's call.
        scores[tid] = evidence.body_similarity
        statuses[tid] = human.get(tid, SightingStatus.NEEDS_REVIEW)
    machine = [(tid, scores[tid], st) for tid, st in statuses.items() if tid not in human]
    if machine:
        store.sightings.record(request.case_id, machine)
    sightings = _sightings(site, store, request, scores, statuses, links)
    report("measuring close contacts", 0.8)
    route_ids = {s.tracklet_id for s in sightings if s.status == SightingStatus.ACCEPTED}
    contacts, notes = _contacts(site, store, route_ids, request)
    cameras = store.cameras.all()
    notes += _notes(cameras, request, len(linked), len(links))
    return TraceResult(
        query=_query_record(request, accept, review),
        created_at=datetime.now(UTC).replace(microsecond=0),
        actor=request.actor,
        cameras=tuple(CameraInfo(c.id, c.name, c.x_m, c.y_m, c.lat, c.lon) for c in cameras),
        sightings=tuple(sightings),
        contacts=tuple(
            group_contacts(
                contacts, _same_person(store, contacts, accept, route_ids), request.minutes
            )
        ),
        notes=tuple(notes),
        loose_faces=_loose_face_matches(site, store, queries, request, review),
    )


def _queries(
    store: Store,
    request: TraceRequest,
    models: ModelSet,
    decided: dict[int, SightingRecord],
) -> tuple[list[np.ndarray], dict[int, float]]:
    """The query faces (the photos', the picked tracklet's and every confirmed
    sighting's) and the scores they start with (the picked tracklet, confirmed ones)."""
    queries: list[np.ndarray] = [embed_photo(p, models, store.cipher) for p in request.photos]
    scores: dict[int, float] = {}
    if request.tracklet_id is not None:
        store.tracklets.get(request.tracklet_id)  # NotFoundError names the id
        scores[request.tracklet_id] = 1.0
        queries.extend(_vectors(store, [request.tracklet_id]))
    confirmed = [t for t, s in decided.items() if s.status == SightingStatus.ACCEPTED]
    queries.extend(_vectors(store, confirmed))
    for tid in confirmed:
        scores[tid] = max(scores.get(tid, 0.0), decided[tid].score)
    return queries, scores


def _search_faces(
    site: SiteConfig,
    store: Store,
    request: TraceRequest,
    queries: list[np.ndarray],
    review: float,
    scores: dict[int, float],
) -> None:
    """Raise ``scores`` with the face index's best match per tracklet in the window (at
    or above ``review``)."""
    if not queries:
        return
    index = open_face_index(site.storage.data_dir, site.storage.index)
    index.sync(store)
    matrix = np.vstack([q.reshape(-1, q.shape[-1]) for q in queries]).astype(np.float32)
    hits = index.search(
        matrix,
        k=site.trace.top_k,
        t_from=request.window_from,
        t_to=request.window_to,
        min_score=review,
        per_tracklet=True,
    )
    for row in hits:
        for hit in row:
            scores[hit.tracklet_id] = max(scores.get(hit.tracklet_id, -1.0), hit.score)


def _sightings(
    site: SiteConfig,
    store: Store,
    request: TraceRequest,
    scores: dict[int, float],
    statuses: dict[int, SightingStatus],
    links: dict[int, CameraLinkEvidence],
) -> list[SightingResult]:
    """Every matched tracklet in the window that is not rejected, best score first, with
    its smoothed ground path and, for a body-appearance suggestion, its evidence."""
    records = {
        r.id: r
        for r in store.tracklets.get_many(list(statuses))
        if statuses[r.id] != SightingStatus.REJECTED
        and (request.window_to is None or r.start <= request.window_to)
        and (request.window_from is None or r.end >= request.window_from)
    }
    points = store.tracklets.points_of(list(records))
    return sorted(
        (
            SightingResult(
                tracklet_id=tid,
                camera_id=rec.camera_id,
                start=rec.start,
                end=rec.end,
                score=scores[tid],
                status=statuses[tid],
                mask_status=rec.mask_status,
                snapshot_path=rec.snapshot_path,
                path=_smoothed_path(points.get(tid, ()), site.ingest.smoothing_s),
                link=links.get(tid),
            )
            for tid, rec in records.items()
        ),
        key=lambda s: -s.score,
    )


def _notes(
    cameras: list[CameraRecord], request: TraceRequest, linked: int, body_links: int
) -> list[str]:
    """Caveats for the reader: uncalibrated distances, suggestions made without a face,
    a trace started from a picked person."""
    notes: list[str] = []
    uncalibrated = [c.id for c in cameras if c.homography is None]
    if uncalibrated:
        notes.append(
            "distances in camera(s) " + ", ".join(uncalibrated) + " are estimated from person "
            "height (no ground calibration): treat them as +/-30%"
        )
    if linked:
        notes.append(
            f"{linked} sighting(s) suggested for review: they continue an accepted "
            "sighting's track (motion continuity in one camera, or the same ground path in "
            "overlapping cameras), not matched by face"
        )
    if body_links:
        notes.append(
            f"{body_links} sighting(s) in neighbouring cameras suggested for review by body "
            "appearance and walking time (never accepted on appearance alone)"
        )
    if not request.photos and request.tracklet_id is not None:
        notes.append(f"trace started from tracklet {request.tracklet_id} picked by the user")
    return notes


def _query_record(request: TraceRequest, accept: float, review: float) -> TraceQuery:
    return TraceQuery(
        case_id=request.case_id,
        photos=tuple(str(p) for p in request.photos),
        start_tracklet_id=request.tracklet_id,
        window_from=request.window_from,
        window_to=request.window_to,
        distance_m=request.distance_m,
        minutes=request.minutes,
        accept_threshold=accept,
        review_threshold=review,
    )


LOOSE_FACE_GAP_S = 3.0
"""Matching loose faces of one camera closer in time than this are one appearance."""


def _loose_face_matches(
    site: SiteConfig,
    store: Store,
    queries: list[np.ndarray],
    request: TraceRequest,
    review: float,
) -> tuple[LooseFaceResult, ...]:
    """Faces seen without a tracked person (``loose_faces``) in the window that match a
    query face at or above ``review``, best first (at most ``trace.top_k``).

    Exact cosine over the decrypted vectors of the window. They are returned for review
    only: never a sighting, never attributed to a tracklet.
    """
    if not queries:
        return ()
    faces = store.faces.loose_in_window(request.window_from, request.window_to)
    if not faces:
        return ()
    matrix = np.vstack([q.reshape(-1, q.shape[-1]) for q in queries]).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    best = (np.vstack([f.vector for f in faces]) @ matrix.T).max(axis=1)
    matched = [i for i in range(len(faces)) if best[i] >= review]
    # One row per appearance: matching faces of one camera less than LOOSE_FACE_GAP_S
    # apart are one person passing by; the best of them stands for it.
    matched.sort(key=lambda i: (faces[i].camera_id, faces[i].timestamp, faces[i].id))
    appearances: list[list[int]] = []
    for i in matched:
        last = appearances[-1][-1] if appearances else None
        if (
            last is not None
            and faces[last].camera_id == faces[i].camera_id
            and (faces[i].timestamp - faces[last].timestamp).total_seconds() < LOOSE_FACE_GAP_S
        ):
            appearances[-1].append(i)
        else:
            appearances.append([i])
    rows = []
    for group in appearances:
        top = max(group, key=lambda i: (float(best[i]), -faces[i].id))
        rows.append(
            LooseFaceResult(
                loose_face_id=faces[top].id,
                camera_id=faces[top].camera_id,
                timestamp=faces[top].timestamp,
                frame_index=faces[top].frame_index,
                xyxy=faces[top].xyxy,
                score=float(best[top]),
                fate=faces[top].fate,
                faces_seen=len(group),
                seen_until=faces[group[-1]].timestamp if len(group) > 1 else None,
            )
        )
    rows.sort(key=lambda r: (-r.score, r.loose_face_id))
    return tuple(rows[: site.trace.top_k])


def _smoothed_path(points: tuple[TrackPoint, ...], smoothing_s: float) -> tuple[PathPoint, ...]:
    """A tracklet's ground path for display, smoothed like the encounter computation."""
    if not points:
        return ()
    origin = points[0].timestamp
    times = np.array([(p.timestamp - origin).total_seconds() for p in points])
    xy = np.array([p.ground_xy for p in points], dtype=np.float64)
    steps = np.diff(times)
    step = float(np.median(steps)) if len(steps) else 1.0
    path = make_path(
        0, origin, times, xy, EncounterSettings(step_s=step or 1.0, smooth_s=smoothing_s)
    )
    return tuple(
        PathPoint(origin + timedelta(seconds=float(t)), float(x), float(y))
        for t, (x, y) in zip(path.times, path.xy, strict=True)
    )


def fragments_of(
    store: Store, records: list[TrackletRecord], calibrated: set[str]
) -> list[Fragment]:
    """Stitching fragments (time, ground path) of tracklets; ``calibrated``: camera ids
    whose ground positions are on the site plan."""
    points = store.tracklets.points_of([r.id for r in records])
    return [
        make_fragment(
            r.id,
            r.camera_id,
            [(p.timestamp, *p.ground_xy) for p in points.get(r.id, ())],
            on_site_plan=r.camera_id in calibrated,
        )
        for r in records
        if points.get(r.id)
    ]


def _link_fragments(
    store: Store,
    scores: dict[int, float],
    statuses: dict[int, SightingStatus],
    accept: float,
) -> list[int]:
    """Accepted sightings' other fragments (same person, by motion or shared path).

    Adds them to ``scores`` with their seed's score; returns the new tracklet ids.
    """
    seeds = [t for t, status in statuses.items() if status == SightingStatus.ACCEPTED]
    if not seeds:
        return []
    reached: dict[int, int] = {s: s for s in seeds}
    cameras = store.cameras.all()
    for _ in range(MAX_STITCH_ROUNDS):
        spans = store.tracklets.get_many(list(reached))
        pad = timedelta(seconds=MAX_GAP_S)
        nearby = store.tracklets.in_window(
            min(r.start for r in spans) - pad,
            max(r.end for r in spans) + pad,
            camera_ids=_neighbour_cameras(cameras, {r.camera_id for r in spans}),
        )
        calibrated = {c.id for c in cameras if c.homography is not None}
        fragments = fragments_of(store, nearby, calibrated)
        found = linked_fragments(list(reached), fragments)
        new = {t: reached.get(seed, seed) for t, seed in found.items() if t not in reached}
        new = {t: s for t, s in new.items() if statuses.get(t) != SightingStatus.REJECTED}
        if not new:
            break
        reached.update(new)
    added = [t for t in reached if t not in scores]
    for t in added:
        scores[t] = scores[reached[t]]
    return added


def _camera_links(
    site: SiteConfig,
    store: Store,
    statuses: dict[int, SightingStatus],
    decided: dict[int, SightingRecord],
) -> dict[int, CameraLinkEvidence]:
    """Body-appearance suggestions in neighbouring cameras of the accepted sightings."""
    accepted = [t for t, st in statuses.items() if st == SightingStatus.ACCEPTED]
    if not accepted:
        return {}
    rejected = {t for t, d in decided.items() if d.status == SightingStatus.REJECTED}
    return body_candidates(
        store,
        camera_graph(site, store),
        store.tracklets.get_many(accepted),
        exclude=set(statuses) | rejected,
        model=site.models.body_embedder.type,
        views=camera_views(site),
    )


def camera_graph(site: SiteConfig, store: Store) -> CameraGraph:
    """The site's camera graph (configured links, else camera positions), with walking
    times learned from the cases' accepted sightings in different cameras (face matches
    and investigator-confirmed links): observed gaps widen a window derived from
    positions, and set one where no link or position gives any (configured windows are
    the operator's word and stay as they are)."""
    return CameraGraph.from_site(site).learn(store.tracklets.accepted_camera_hops())


def _neighbour_cameras(cameras: list[CameraRecord], around: set[str]) -> list[str]:
    """The given cameras and those placed within ``NEIGHBOUR_CAMERA_M`` of one of them."""
    placed = {c.id: (c.x_m, c.y_m) for c in cameras if c.x_m is not None and c.y_m is not None}
    out = set(around)
    for cam in around:
        if cam not in placed:
            continue
        x, y = placed[cam]
        out |= {
            other
            for other, (ox, oy) in placed.items()
            if (ox - x) ** 2 + (oy - y) ** 2 <= NEIGHBOUR_CAMERA_M**2
        }
    return sorted(out)


def _contacts(
    site: SiteConfig, store: Store, route_ids: set[int], request: TraceRequest
) -> tuple[list[EncounterResult], list[str]]:
    """The route's encounters: those ingest stored (one camera), and those measured now
    with people seen by another camera whose view shares floor with the route's."""
    notes: list[str] = []
    if not route_ids:
        return [], notes
    encounters = [
        e
        for e in store.tracklets.encounters_for(
            sorted(route_ids), request.window_from, request.window_to
        )
        if e.other_tracklet_id not in route_ids
    ]
    across = _cross_view_encounters(site, store, route_ids, request)
    if across:
        notes.append(
            f"{len(across)} encounters were measured across overlapping cameras (the case in "
            "one view, the other person in another view of the same floor)"
        )
    encounters += across
    tracklets = {
        r.id: r
        for r in store.tracklets.get_many(
            {e.tracklet_id for e in encounters} | {e.other_tracklet_id for e in encounters}
        )
    }
    results: list[EncounterResult] = []
    interpolated = False
    for enc in encounters:
        secs, approx = seconds_at_distance(enc.seconds_within, request.distance_m)
        interpolated |= approx
        if secs <= 0 and enc.min_distance_m > request.distance_m:
            continue
        results.append(_contact(enc, secs, tracklets))
    if interpolated:
        bands = ", ".join(f"{b:g}" for b in sorted(encounters[0].seconds_within))
        notes.append(
            f"times within {request.distance_m:g} m are interpolated between the distance "
            f"bands computed at ingest ({bands} m)"
        )
    return results, notes


def _cross_view_encounters(
    site: SiteConfig, store: Store, route_ids: set[int], request: TraceRequest
) -> list[EncounterRecord]:
    """Encounters of the route with tracklets of cameras sharing floor with its cameras
    (:mod:`cctrace.tracing.overlap_encounters`), within the request's window."""
    sharing = views_sharing_floor(site)
    if not sharing:
        return []
    route = store.tracklets.get_many(sorted(route_ids))
    cameras = {c for pair in sharing for c in pair}
    partners = sorted(
        {b for a, b in sharing if a in {r.camera_id for r in route}}
        | {a for a, b in sharing if b in {r.camera_id for r in route}}
    )
    route = [r for r in route if r.camera_id in cameras]
    if not route or not partners:
        return []
    others = store.tracklets.in_window(
        min(r.start for r in route), max(r.end for r in route), camera_ids=partners
    )
    others = [o for o in others if o.id not in route_ids]
    if not others:
        return []
    points = store.tracklets.points_of([r.id for r in route] + [o.id for o in others])
    ingest = site.ingest
    settings = EncounterSettings(
        bands_m=ingest.distance_bands_m,
        step_s=1.0 / ingest.analysis_fps,
        max_gap_s=ingest.max_gap_s,
        smooth_s=ingest.smoothing_s,
    )
    found = cross_view_encounters(route, others, points, sharing, settings, exclude=route_ids)
    lo, hi = request.window_from, request.window_to
    return [e for e in found if (lo is None or e.end >= lo) and (hi is None or e.start <= hi)]


def _contact(
    enc: EncounterRecord, secs: float, tracklets: dict[int, TrackletRecord]
) -> EncounterResult:
    case_t = tracklets[enc.tracklet_id]
    other = tracklets[enc.other_tracklet_id]
    return EncounterResult(
        contact_tracklet_id=enc.other_tracklet_id,
        case_tracklet_id=enc.tracklet_id,
        camera_id=enc.camera_id,
        start=enc.start,
        end=enc.end,
        seconds_within=secs,
        min_distance_m=enc.min_distance_m,
        min_distance_at=enc.min_distance_at,
        case_mask=case_t.mask_status,
        contact_mask=other.mask_status,
        snapshot_path=other.snapshot_path,
        seconds_by_band=dict(enc.seconds_within),
    )


def _same_person(
    store: Store, contacts: list[EncounterResult], accept: float, route_ids: set[int]
) -> PersonGroups:
    """Contact tracklets joined into people: by face match first, then by unambiguous
    motion continuity in one camera and by the same ground path in overlapping cameras
    (never through the case's own route). Body appearance alone is too unsure to add one
    person's times together (``tracing.cross_camera``)."""
    ids = sorted({c.contact_tracklet_id for c in contacts})
    if not ids:
        return PersonGroups({}, {})
    faces = _face_groups(store, ids, accept)
    links = [(t, g, BY_FACE) for t, g in faces.items() if t != g]
    records = store.tracklets.get_many(ids)
    spans = {r.id: Span(r.camera_id, r.start, r.end) for r in records}
    links += _fragment_links(store, records, route_ids)
    return join_people(ids, links, spans)


def _fragment_links(
    store: Store, records: list[TrackletRecord], route_ids: set[int]
) -> list[tuple[int, int, str]]:
    """Pairs of contact tracklets that stitching says are one person (see
    :func:`cctrace.tracing.stitching.linked_fragments`)."""
    if len(records) < 2:
        return []
    cameras = store.cameras.all()
    pad = timedelta(seconds=MAX_GAP_S)
    nearby = store.tracklets.in_window(
        min(r.start for r in records) - pad,
        max(r.end for r in records) + pad,
        camera_ids=_neighbour_cameras(cameras, {r.camera_id for r in records}),
    )
    calibrated = {c.id for c in cameras if c.homography is not None}
    # The case's own fragments are known to be the case, so they are no competitors:
    # a contact walking beside the case shares its path and would otherwise never be
    # an unambiguous match for anyone.
    others = [r for r in nearby if r.id not in route_ids]
    fragments = fragments_of(store, others, calibrated)
    camera_of = {f.tracklet_id: f.camera_id for f in fragments}
    ids = {r.id for r in records}
    links: list[tuple[int, int, str]] = []
    for r in records:
        for other in linked_fragments([r.id], fragments):
            if other != r.id and other in ids:
                kind = BY_MOTION if camera_of[other] == r.camera_id else BY_SHARED_PATH
                links.append((r.id, other, kind))
    return links


def _face_groups(store: Store, ids: list[int], accept: float) -> dict[int, int]:
    by_tracklet: dict[int, list[np.ndarray]] = {i: [] for i in ids}
    for emb in store.faces.embeddings_of(ids):
        by_tracklet[emb.tracklet_id].append(emb.vector)
    stacked = {
        i: (np.vstack(v) if v else np.zeros((0, 128), np.float32)) for i, v in by_tracklet.items()
    }
    return link_same_person(stacked, accept)


def _vectors(store: Store, tracklet_ids: list[int]) -> list[np.ndarray]:
    if not tracklet_ids:
        return []
    return [e.vector.reshape(1, -1) for e in store.faces.embeddings_of(tracklet_ids)]


def _ensure_case(store: Store, request: TraceRequest) -> None:
    try:
        store.cases.get(request.case_id)
    except NotFoundError:
        with contextlib.suppress(AlreadyExistsError):
            store.cases.create(request.case_id, request.actor, request.legal_basis)


def _audit_query(request: TraceRequest) -> dict[str, Any]:
    return {
        "photos": [p.name for p in request.photos],
        "tracklet_id": request.tracklet_id,
        "from": request.window_from.isoformat() if request.window_from else None,
        "to": request.window_to.isoformat() if request.window_to else None,
        "distance_m": request.distance_m,
        "minutes": request.minutes,
        "accept_threshold": request.accept_threshold,
        "review_threshold": request.review_threshold,
        "legal_basis": request.legal_basis,
    }


def _pick(value: float | None, default: float) -> float:
    return default if value is None else value


def case_dir(site: SiteConfig, case_id: str) -> Path:
    """The folder of a case's reports, latest result, query photos and exports."""
    return _case_dir(site, case_id)


def _case_dir(site: SiteConfig, case_id: str) -> Path:
    return site.storage.data_dir / "reports" / check_case_id(case_id)
