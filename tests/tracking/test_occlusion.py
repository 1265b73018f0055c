"""Occlusion-aware joining: a person lost behind another and re-appearing beside them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from cctrace.state import StateError, pack, unpack
from cctrace.tracking.postprocess import PostSettings, hidden_cover, hidden_path, occlusion_cost
from cctrace.tracking.tracklets import TrackletBuilder
from cctrace.types import Tracklet, TrackPoint

T0 = datetime(2026, 3, 15, 8, 0, tzinfo=UTC)
FPS = 7.0
PLAIN = PostSettings(step_s=1 / FPS)
OCCLUDING = replace(PLAIN, occlusion_gap_s=15.0)


def _occluder(frame: int) -> TrackPoint:
    """A 100 px tall person walking right at 5 px per frame (ground: 1 m = 100 px)."""
    x = 100.0 + 5.0 * frame
    return TrackPoint(
        frame, T0 + timedelta(seconds=frame / FPS), (x, 200.0, x + 40, 300.0), (x / 100, 0.0), 0.9
    )


def _companion(frame: int, dx: float = 15.0) -> TrackPoint:
    """Someone walking with the occluder, ``dx`` px to its side and a little behind it
    (90 px tall, feet 10 px higher; 0.5 m further on the ground)."""
    x = 100.0 + 5.0 * frame + dx
    return TrackPoint(
        frame,
        T0 + timedelta(seconds=frame / FPS),
        (x + 2, 200.0, x + 38, 290.0),
        (x / 100, 0.5),
        0.8,
    )


def _step(
    builder: TrackletBuilder, tracks: dict[int, list[TrackPoint]], frames: range
) -> list[Tracklet]:
    """Feed these frames, expiring after each; what finished meanwhile."""
    out: list[Tracklet] = []
    for frame in frames:
        for tid, points in tracks.items():
            for p in points:
                if p.frame_index == frame:
                    builder.add_point(tid, p)
        out += builder.expire(T0 + timedelta(seconds=frame / FPS))[0]
    return out


def _feed(
    builder: TrackletBuilder, tracks: dict[int, list[TrackPoint]], until: int
) -> list[Tracklet]:
    return _step(builder, tracks, range(until)) + builder.finish_all()[0]


def _hidden_scene(extra: dict[int, list[TrackPoint]] | None = None) -> dict[int, list[TrackPoint]]:
    """Track 1 is seen for 20 frames, hidden behind track 10 for 30 frames (4.3 s, longer
    than plain linking bridges), and re-appears beside it as track 2."""
    tracks = {
        10: [_occluder(f) for f in range(0, 90)],
        1: [_companion(f) for f in range(0, 20)],
        2: [_companion(f) for f in range(50, 80)],
    }
    tracks.update(extra or {})
    return tracks


def _builder(post: PostSettings) -> TrackletBuilder:
    return TrackletBuilder("cam", min_points=3, lost_after_s=3.0, post=post)


def test_hidden_cover() -> None:
    occ = (100.0, 200.0, 140.0, 300.0)
    assert hidden_cover((110, 190, 146, 280), occ, 0.25) == pytest.approx(1.0)  # 6 px out, widened
    assert hidden_cover((110, 190, 146, 280), occ, 0.0) == pytest.approx(30 / 36)
    assert hidden_cover((200, 190, 236, 280), occ, 0.25) == 0.0  # beside, but apart
    assert hidden_cover((110, 0, 146, 190), occ, 0.25) == 0.0  # above it: not hidden by it


def test_hidden_path_carries_the_offset_along_with_the_occluder() -> None:
    occluder = [_occluder(f) for f in range(90)]
    fill = hidden_path(_companion(19), _companion(50), occluder[19], occluder[50], occluder)
    assert [p.frame_index for p in fill] == list(range(20, 50))
    for p in fill:
        truth = _companion(p.frame_index)
        assert p.confidence == 0.0
        assert p.xyxy == pytest.approx(truth.xyxy)
        assert p.ground_xy == pytest.approx(truth.ground_xy)
    # The offset changes sides while hidden: halfway, halfway between the two offsets.
    moved = hidden_path(
        _companion(19, dx=-15), _companion(50, dx=15), _occluder(19), _occluder(50), [_occluder(34)]
    )
    assert moved[0].xyxy[0] == pytest.approx(_companion(34, dx=-15 + 30 * 15 / 31).xyxy[0])


def test_occlusion_cost_prefers_the_same_side_and_size() -> None:
    before = [_companion(f) for f in range(0, 20)]
    same = [_companion(f) for f in range(50, 60)]
    other_side = [_companion(f, dx=-35) for f in range(50, 60)]
    args = (_occluder(19), _occluder(50), OCCLUDING)
    assert occlusion_cost(before, same, *args) == pytest.approx(0.0, abs=1e-6)
    assert occlusion_cost(before, other_side, *args) == pytest.approx(0.5, abs=1e-6)
    late = [_companion(f) for f in range(130, 140)]  # 15.9 s later
    assert occlusion_cost(before, late, _occluder(19), _occluder(130), OCCLUDING) == float("inf")
    assert occlusion_cost(same, before, *args) == float("inf")


def test_person_hidden_behind_another_is_joined_and_filled() -> None:
    done = _feed(_builder(OCCLUDING), _hidden_scene(), 100)
    by_id = {t.track_id: t for t in done}
    assert sorted(by_id) == [1, 10]
    joined = by_id[1]
    assert [p.frame_index for p in joined.points] == list(range(0, 80))
    hidden = joined.points[20:50]
    assert all(p.confidence == 0.0 for p in hidden)
    for p in hidden:  # carried along with the occluder, where the person really was
        assert p.ground_xy == pytest.approx(_companion(p.frame_index).ground_xy)
        assert p.xyxy == pytest.approx(_companion(p.frame_index).xyxy, abs=1e-6)
    assert all(p.confidence > 0 for p in joined.points[:20] + joined.points[50:])


def test_without_occlusion_joining_the_hidden_stretch_stays_a_gap() -> None:
    done = _feed(_builder(PLAIN), _hidden_scene(), 100)
    assert sorted(t.track_id for t in done) == [1, 2, 10]


def test_two_candidates_beside_the_occluder_are_not_guessed_between() -> None:
    other = {3: [_companion(f, dx=-15) for f in range(52, 80)]}  # re-appears on the other side
    done = _feed(_builder(OCCLUDING), _hidden_scene(other), 100)
    assert sorted(t.track_id for t in done) == [1, 2, 3, 10]
    assert len(next(t for t in done if t.track_id == 1).points) == 20
    # Either candidate alone would have been taken: the refusal is for the ambiguity.
    alone = _hidden_scene(other)
    del alone[2]
    assert sorted(t.track_id for t in _feed(_builder(OCCLUDING), alone, 100)) == [1, 10]


def test_person_lost_away_from_everyone_is_not_held() -> None:
    tracks = _hidden_scene()
    tracks[1] = [_companion(f, dx=400) for f in range(0, 20)]  # far from track 10
    builder = _builder(OCCLUDING)
    done = _feed(builder, tracks, 100)
    assert sorted(t.track_id for t in done) == [1, 2, 10]
    # ... and it was finished when lost (+ 3 s), not held for the occlusion window.
    early = _step(_builder(OCCLUDING), tracks, range(45))
    assert [t.track_id for t in early] == [1]
    held, scene = _builder(OCCLUDING), _hidden_scene()
    scene[10] = scene[10][3:]  # the occluder is first seen after the hidden person
    assert _step(held, scene, range(45)) == []
    assert held.earliest_open_start() == T0  # the held track keeps encounters open


def test_reappearance_too_late_is_not_joined() -> None:
    tracks = _hidden_scene()
    tracks[2] = [_companion(f) for f in range(130, 160)]  # 15.9 s after the loss
    tracks[10] = [_occluder(f) for f in range(0, 170)]
    done = _feed(_builder(OCCLUDING), tracks, 180)
    assert sorted(t.track_id for t in done) == [1, 2, 10]


def test_occluder_continued_under_a_new_track_id_still_counts() -> None:
    tracks = _hidden_scene()
    tracks[10] = [_occluder(f) for f in range(0, 35)]
    tracks[11] = [_occluder(f) for f in range(37, 90)]  # the tracker lost it for 2 frames
    done = _feed(_builder(OCCLUDING), tracks, 100)
    by_id = {t.track_id: t for t in done}
    assert sorted(by_id) == [1, 10]
    assert [p.frame_index for p in by_id[1].points] == list(range(0, 80))


def test_held_track_survives_a_checkpoint() -> None:
    tracks = _hidden_scene()
    whole = _feed(_builder(OCCLUDING), tracks, 100)
    builder = _builder(OCCLUDING)
    out = _step(builder, tracks, range(45))  # track 1 is held now
    resumed = TrackletBuilder.from_state(unpack(pack(builder.to_state())))
    out += _step(resumed, tracks, range(45, 100)) + resumed.finish_all()[0]
    assert [(t.track_id, t.points) for t in out] == [(t.track_id, t.points) for t in whole]
    assert len(whole) == 2


def test_a_builder_state_missing_a_part_is_refused() -> None:
    state = _builder(PLAIN).to_state()
    del state["_held"]
    with pytest.raises(StateError, match="_held"):
        TrackletBuilder.from_state(state)
