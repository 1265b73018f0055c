"""Body-appearance suggestions in neighbouring cameras, inside the walking-time window."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from cctrace.config import SiteConfig
from cctrace.store import FootageStatus, Store
from cctrace.tracing.camera_graph import CameraGraph
from cctrace.tracing.cross_camera import body_candidates
from cctrace.types import BodyAppearance, Tracklet, TrackPoint

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
DIM = 72


def _unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def _like(base: np.ndarray, similarity: float, seed: int) -> np.ndarray:
    """A unit vector with the given cosine to ``base``."""
    other = _unit(seed)
    other -= float(other @ base) * base
    other /= np.linalg.norm(other)
    return (similarity * base + np.sqrt(1 - similarity**2) * other).astype(np.float32)


def _tracklet(track: int, camera: str, start_s: float, end_s: float, body: np.ndarray | None):
    points = tuple(
        TrackPoint(
            frame_index=int(t * 5),
            timestamp=T0 + timedelta(seconds=t),
            xyxy=(10.0, 20.0, 50.0, 120.0),
            ground_xy=(0.0, 0.0),
            confidence=0.9,
        )
        for t in np.arange(start_s, end_s + 1e-9, 0.5)
    )
    return Tracklet(
        camera, track, points, body=None if body is None else BodyAppearance("part-colour", body)
    )


@pytest.fixture
def site() -> SiteConfig:
    return SiteConfig.model_validate(
        {
            "cameras": [
                {
                    "id": "gate",
                    "location": {"x_m": 0, "y_m": 0},
                    "footage": ["g.mp4"],
                    "links": [{"to": "hall", "walk_s": [20, 60]}],
                },
                {"id": "hall", "location": {"x_m": 40, "y_m": 0}, "footage": ["h.mp4"]},
                {"id": "roof", "location": {"x_m": 5, "y_m": 0}, "footage": ["r.mp4"]},
            ]
        }
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "data") as s:
        yield s


def _save(store: Store, camera: str, tracklets: list[Tracklet]) -> list[int]:
    store.cameras.upsert(camera, camera, x_m=0.0, y_m=0.0)
    footage = store.footage.get_or_create(
        camera,
        f"/v/{camera}.mp4",
        hashlib.sha256(camera.encode()).hexdigest(),
        1000,
        T0,
        600.0,
        5.0,
    )
    return store.tracklets.save_batch(
        footage.id, tracklets, [], 600.0, b"", FootageStatus.DONE, 3000, 0
    )


def test_suggestions_follow_the_graph_the_window_and_appearance(
    site: SiteConfig, store: Store
) -> None:
    case = _unit(1)
    (case_id,) = _save(store, "gate", [_tracklet(1, "gate", 0, 30, case)])
    hall = _save(
        store,
        "hall",
        [
            _tracklet(1, "hall", 60, 90, _like(case, 0.95, 2)),  # 30 s after: in the window
            _tracklet(2, "hall", 65, 80, _like(case, 0.70, 3)),  # in the window, less alike
            _tracklet(3, "hall", 62, 70, _like(case, 0.30, 4)),  # someone else
            _tracklet(4, "hall", 200, 230, _like(case, 0.99, 5)),  # alike, far too late
            _tracklet(5, "hall", 70, 75, None),  # never seen cleanly: no body embedding
            _tracklet(6, "hall", -60, -25, _like(case, 0.90, 6)),  # left 25 s before
        ],
    )
    # "roof" is 5 m away but the configured graph does not link it.
    _save(store, "roof", [_tracklet(1, "roof", 35, 50, _like(case, 0.99, 7))])
    graph = CameraGraph.from_site(site)
    found = body_candidates(
        store, graph, store.tracklets.get_many([case_id]), exclude={case_id}, model="part-colour"
    )
    assert set(found) == {hall[0], hall[1], hall[5]}
    after = found[hall[0]]
    assert (after.direction, after.from_tracklet_id, after.from_camera_id) == (
        "after",
        case_id,
        "gate",
    )
    assert after.gap_s == pytest.approx(30.0) and after.window_s == (20.0, 60.0)
    assert after.window_source == "configured" and after.distance_m == pytest.approx(40.0)
    assert after.body_similarity == pytest.approx(0.95, abs=1e-3)
    before = found[hall[5]]
    assert before.direction == "before" and before.gap_s == pytest.approx(25.0)
    # Excluded (already decided) tracklets never come back; other models do not compare.
    again = body_candidates(
        store,
        graph,
        store.tracklets.get_many([case_id]),
        exclude={case_id, hall[0]},
        model="part-colour",
    )
    assert hall[0] not in again
    assert (
        body_candidates(
            store, graph, store.tracklets.get_many([case_id]), exclude=set(), model="onnx-reid"
        )
        == {}
    )


def test_at_most_two_per_camera_and_direction(site: SiteConfig, store: Store) -> None:
    case = _unit(1)
    (case_id,) = _save(store, "gate", [_tracklet(1, "gate", 0, 30, case)])
    hall = _save(
        store,
        "hall",
        [
            _tracklet(k, "hall", 55 + k, 70 + k, _like(case, 0.9 - 0.05 * k, 10 + k))
            for k in range(4)
        ],
    )
    found = body_candidates(
        store,
        CameraGraph.from_site(site),
        store.tracklets.get_many([case_id]),
        set(),
        "part-colour",
    )
    assert set(found) == {hall[0], hall[1]}


def test_walking_times_are_learned_from_accepted_sightings(store: Store) -> None:
    """With no links and cameras too far apart there is no graph; three cases whose accepted
    sightings walk gate -> hall in 30-40 s teach it a window, and a fourth case then gets
    suggestions in the hall."""
    from cctrace.tracing.service import camera_graph
    from cctrace.types import SightingStatus

    # 2 km apart: too far for a window from positions.
    site = SiteConfig.model_validate(
        {
            "cameras": [
                {"id": "gate", "location": {"x_m": 0, "y_m": 0}, "footage": ["g.mp4"]},
                {"id": "hall", "location": {"x_m": 2000, "y_m": 0}, "footage": ["h.mp4"]},
            ]
        }
    )
    assert camera_graph(site, store).neighbours("gate") == []
    people = [_unit(20 + k) for k in range(4)]
    gate = _save(
        store,
        "gate",
        [_tracklet(k + 1, "gate", 100 * k, 100 * k + 20, people[k]) for k in range(4)],
    )
    walks = [30.0, 35.0, 40.0, 33.0]
    hall = _save(
        store,
        "hall",
        [
            _tracklet(k + 1, "hall", 100 * k + 20 + walks[k], 100 * k + 50 + walks[k], people[k])
            for k in range(4)
        ],
    )
    for k in range(3):
        case = f"C{k}"
        store.cases.create(case, legal_basis="test", created_by="tracer")
        store.sightings.record(case, [(gate[k], 0.9, SightingStatus.ACCEPTED)])
        store.sightings.record(case, [(hall[k], 0.8, SightingStatus.NEEDS_REVIEW)])
        if k < 2:  # two confirmations are not enough to set a window on their own
            store.sightings.decide(case, hall[k], SightingStatus.ACCEPTED, "tracer")
    assert sorted(store.tracklets.accepted_camera_hops()) == [
        ("gate", "hall", 30.0),
        ("gate", "hall", 35.0),
    ]
    assert camera_graph(site, store).neighbours("gate") == []
    store.sightings.decide("C2", hall[2], SightingStatus.ACCEPTED, "tracer")
    graph = camera_graph(site, store)
    window = graph.window("hall", "gate")
    assert graph.neighbours("gate") == ["hall"] and window is not None
    assert window.source == "learned" and window.low_s <= 30.0 and window.high_s >= 40.0
    found = body_candidates(store, graph, store.tracklets.get_many([gate[3]]), set(), "part-colour")
    assert hall[3] in found and found[hall[3]].window_source == "learned"


def _walk(
    track: int,
    camera: str,
    start_s: float,
    path: list[tuple[float, float]],
    body: np.ndarray,
) -> Tracklet:
    """A tracklet walking ``path`` (site metres), one point every 0.5 s."""
    points = tuple(
        TrackPoint(
            frame_index=int((start_s + 0.5 * i) * 2),
            timestamp=T0 + timedelta(seconds=start_s + 0.5 * i),
            xyxy=(10.0, 20.0, 50.0, 120.0),
            ground_xy=xy,
            confidence=0.9,
        )
        for i, xy in enumerate(path)
    )
    return Tracklet(camera, track, points, body=BodyAppearance("part-colour", body))


def _calibrated_site() -> SiteConfig:
    """gate sees x 0-10 m, hall x 30-40 m (the same ground frame shifted 30 m east)."""
    square = [[0, 0, 0, 0], [100, 0, 10, 0], [100, 100, 10, 10], [0, 100, 0, 10]]
    return SiteConfig.model_validate(
        {
            "cameras": [
                {
                    "id": "gate",
                    "location": {"x_m": 5, "y_m": -5},
                    "footage": ["g.mp4"],
                    "links": [{"to": "hall", "walk_s": [10, 60]}],
                    "calibration": {"points": square},
                },
                {
                    "id": "hall",
                    "location": {"x_m": 35, "y_m": -5},
                    "footage": ["h.mp4"],
                    "calibration": {"points": square, "placement": {"x_m": 30}},
                },
            ]
        }
    )


def test_walking_direction_ranks_who_came_from_the_case_side_first(store: Store) -> None:
    """Two people look equally like the case in the hall; the one who walked in from the
    gate's side, as the case left the gate heading there, comes first; without the
    direction cue the one nearer in time would."""
    from cctrace.tracing.cross_camera import LinkCues, camera_views, ranked_candidates

    site = _calibrated_site()
    case = _unit(1)
    east = [(2.0 + 0.5 * i, 5.0) for i in range(16)]  # leaves the gate at x = 9.5
    (case_id,) = _save(store, "gate", [_walk(1, "gate", 0.0, east, case)])
    from_gate = [(30.5 + 0.5 * i, 5.0) for i in range(10)]  # enters at the hall's west edge
    from_far = [(39.5 - 0.5 * i, 6.0) for i in range(10)]  # enters at its east edge
    right, wrong = _save(
        store,
        "hall",
        [
            _walk(1, "hall", 30.0, from_gate, _like(case, 0.8, 2)),
            _walk(2, "hall", 20.0, from_far, _like(case, 0.8, 3)),
        ],
    )
    graph = CameraGraph.from_site(site)
    window = graph.window("gate", "hall")
    assert window is not None
    views = camera_views(site)
    (sighting,) = store.tracklets.get_many([case_id])

    def order(cues: LinkCues) -> list[int]:
        ranked = ranked_candidates(
            store, sighting, case, "hall", window, "after", "part-colour", views, cues
        )
        return [t for t, _ in ranked]

    assert order(LinkCues()) == [right, wrong]
    assert order(LinkCues(direction=False)) == [wrong, right]  # equal looks: nearest first
    found = body_candidates(store, graph, [sighting], {case_id}, "part-colour", views=views)
    assert found[right].exit_cos == pytest.approx(1.0)
    assert found[right].entry_cos == pytest.approx(1.0)
    assert found[wrong].entry_cos is not None and found[wrong].entry_cos < -0.9
    assert found[right].score > found[wrong].score
    # No optical centre configured: no heights.
    assert found[right].case_height_m is None and found[right].candidate_height_m is None
    # Cameras whose views share floor on the plan (here: both left at its origin) give
    # no direction either.
    same_floor = {k: replace(v, region_m=views["gate"].region_m) for k, v in views.items()}
    shared = body_candidates(store, graph, [sighting], {case_id}, "part-colour", views=same_floor)
    assert shared[right].exit_cos is None and shared[wrong].entry_cos is None
    # Without views (no calibration known) direction is unknown and says nothing.
    plain = body_candidates(store, graph, [sighting], {case_id}, "part-colour")
    assert plain[right].exit_cos is None and plain[right].entry_cos is None


def test_cue_terms_favour_agreement_and_stay_neutral_when_unknown() -> None:
    from cctrace.tracing.body_cues import TrackletHeight
    from cctrace.tracing.cross_camera import (
        HEIGHT_FLOOR,
        LinkCues,
        body_term,
        direction_term,
        height_term,
        link_score,
    )

    assert body_term(0.9) > 0 > body_term(0.6)
    assert direction_term(None) == 0.0
    assert direction_term(1.0) > 0 > direction_term(-1.0)
    tall, same, short = (TrackletHeight(m, 0.02, 5.0) for m in (1.85, 1.84, 1.55))
    assert height_term(tall, same) > 0 > height_term(tall, short) >= HEIGHT_FLOOR
    assert height_term(tall, None) == 0.0
    # A short, noisy tracklet's height says less than a steady one's.
    noisy = TrackletHeight(1.60, 0.15, 0.5)
    steady = TrackletHeight(1.60, 0.01, 10.0)
    assert height_term(tall, steady) < height_term(tall, noisy) < 0
    heights = (tall, short)
    assert link_score(0.8, heights, 1.0, 1.0, LinkCues(height=True)) < link_score(
        0.8, heights, 1.0, 1.0, LinkCues()
    )
    assert link_score(0.8, heights, None, None, LinkCues(body=False)) == 0.0
    assert link_score(None, heights, None, None) == pytest.approx(body_term(-1.0))
