"""Track post-processing: linking fragments, filling gaps, smoothing boxes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from cctrace.tracking import postprocess
from cctrace.tracking.postprocess import (
    PostSettings,
    clean_path,
    fill_gaps,
    link_cost,
    smooth_boxes,
)
from cctrace.tracking.tracklets import SEGMENT_STRIDE, TrackletBuilder
from cctrace.types import FaceSample, TrackPoint

T0 = datetime(2026, 3, 15, 8, 0, tzinfo=UTC)
FPS = 7.0
SETTINGS = PostSettings(step_s=1 / FPS)


def _walker(frame: int, x0: float = 100.0, vx: float = 10.0, conf: float = 0.9) -> TrackPoint:
    """A 100 px tall person walking right at ``vx`` px per frame."""
    x = x0 + vx * frame
    return TrackPoint(
        frame, T0 + timedelta(seconds=frame / FPS), (x, 200.0, x + 40, 300.0), (x / 100, 0.0), conf
    )


def test_fill_gaps_interpolates_short_gaps_only() -> None:
    points = [_walker(f) for f in [0, 1, 5, 6, 30]]  # 3 missing frames, then 23 (> 2 s)
    filled = fill_gaps(points, SETTINGS)
    assert [p.frame_index for p in filled] == [0, 1, 2, 3, 4, 5, 6, 30]
    for p in filled[2:5]:
        assert p.confidence == 0.0
        assert p.xyxy == pytest.approx(_walker(p.frame_index).xyxy)
        assert p.ground_xy == pytest.approx(_walker(p.frame_index).ground_xy)
        assert p.timestamp == _walker(p.frame_index).timestamp
    assert fill_gaps(points, PostSettings(step_s=1 / FPS, fill_gap_s=0)) == points


def test_fill_gaps_follows_sparse_frame_indices() -> None:
    """At 7 fps analysis of 25 fps footage, frame indices step by about 3.6."""
    step = PostSettings(step_s=1 / 7)
    a = TrackPoint(0, T0, (0, 0, 10, 30), (0.0, 0.0), 0.9)
    b = TrackPoint(14, T0 + timedelta(seconds=14 / 25), (8, 0, 18, 30), (4.0, 0.0), 0.9)
    filled = fill_gaps([a, b], step)
    assert [p.frame_index for p in filled] == [0, 4, 7, 10, 14]
    assert filled[2].xyxy == pytest.approx((4, 0, 14, 30))


def test_smoothing_removes_jitter_and_keeps_a_straight_walk() -> None:
    straight = [_walker(f) for f in range(40)]
    smoothed_straight = np.array([p.xyxy for p in smooth_boxes(straight, SETTINGS)])
    np.testing.assert_allclose(smoothed_straight, [p.xyxy for p in straight], atol=1e-9)
    rng = np.random.default_rng(0)
    noisy = []
    for p in straight:
        dw = float(rng.normal(0, 6))
        noisy.append(
            TrackPoint(
                p.frame_index,
                p.timestamp,
                (p.xyxy[0] - dw, p.xyxy[1], p.xyxy[2] + dw, p.xyxy[3]),
                p.ground_xy,
                p.confidence,
            )
        )
    smoothed = smooth_boxes(noisy, SETTINGS)

    def width_error(points: list[TrackPoint]) -> float:
        return float(np.mean([abs((p.xyxy[2] - p.xyxy[0]) - 40) for p in points]))

    assert width_error(smoothed) < 0.75 * width_error(noisy)
    assert [p.ground_xy for p in smoothed] == [p.ground_xy for p in noisy]
    assert smooth_boxes(noisy, PostSettings(step_s=1 / FPS, smooth_s=0)) == noisy


def test_clean_path_fills_then_smooths() -> None:
    points = [_walker(f) for f in [0, 1, 2, 6, 7, 8]]
    cleaned = clean_path(points, SETTINGS)
    assert [p.frame_index for p in cleaned] == list(range(9))
    assert cleaned[4].xyxy == pytest.approx(_walker(4).xyxy)


def test_link_cost_prefers_the_continuation() -> None:
    before = [_walker(f) for f in range(0, 10)]
    after = [_walker(f) for f in range(15, 25)]  # same walk, 5 frames hidden
    elsewhere = [_walker(f, x0=400) for f in range(15, 25)]  # someone 2.5 heights away
    backwards = [_walker(f, x0=340, vx=-10) for f in range(15, 25)]  # meets it, turned back
    assert link_cost(before, after, SETTINGS) < 0.05
    assert link_cost(before, elsewhere, SETTINGS) > SETTINGS.link_max_cost
    turned = link_cost(before, backwards, SETTINGS)
    # Same place at the middle of the gap: only the velocity change costs (1.4 heights/s).
    assert turned == pytest.approx(SETTINGS.velocity_weight * 1.4, abs=1e-6)
    late = [_walker(f) for f in range(40, 50)]  # 30 frames later: beyond link_gap_s
    assert link_cost(before, late, SETTINGS) == float("inf")
    assert link_cost(after, before, SETTINGS) == float("inf")  # not backwards in time
    assert link_cost([], after, SETTINGS) == float("inf")


def _legs_hidden(point: TrackPoint, hidden: float = 50.0) -> TrackPoint:
    """``point`` with the lower ``hidden`` pixels of the box behind something."""
    x1, y1, x2, y2 = point.xyxy
    return TrackPoint(
        point.frame_index, point.timestamp, (x1, y1, x2, y2 - hidden), point.ground_xy, 0.9
    )


def test_link_cost_follows_the_head_when_the_legs_were_hidden(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Lost behind a sign: the last boxes show only the upper half, so the foot point
    jumps and the heights disagree, but the head walked on; the join is accepted."""
    before = [_walker(f) for f in range(0, 7)] + [_legs_hidden(_walker(f)) for f in range(7, 10)]
    after = [_walker(f) for f in range(16, 26)]
    assert link_cost(before, after, SETTINGS) < 0.05
    # Someone else whose head is 2.5 heights away is still refused.
    elsewhere = [_walker(f, x0=400) for f in range(16, 26)]
    assert link_cost(before, elsewhere, SETTINGS) > SETTINGS.link_max_cost
    # A track seen short throughout (a shorter person, not hidden legs) gets no head cost.
    short = [_legs_hidden(_walker(f)) for f in range(0, 10)]
    assert link_cost(short, after, SETTINGS) > SETTINGS.link_max_cost
    # A person twice as tall starting where the head went pays for the usual heights.
    tall = [
        TrackPoint(
            q.frame_index,
            q.timestamp,
            (q.xyxy[0], q.xyxy[1], q.xyxy[2], q.xyxy[3] + 100),
            q.ground_xy,
            0.9,
        )
        for q in after
    ]
    assert link_cost(before, tall, SETTINGS) == pytest.approx(np.log(2), abs=0.01)
    # Turned off: feet only, and the join is refused.
    feet_only = PostSettings(step_s=1 / FPS, link_by_head=False)
    assert link_cost(before, after, feet_only) > 2 * SETTINGS.link_max_cost
    # The foot alone refused it (the reason for the head cost).
    monkeypatch.setattr(postprocess, "_head_cost", lambda *args: float("inf"))
    assert link_cost(before, after, SETTINGS) > 2 * SETTINGS.link_max_cost


def _face(quality: float) -> FaceSample:
    emb = np.ones(128, np.float32) / np.sqrt(128)
    return FaceSample(0, T0, emb, quality, 0.9, np.zeros((2, 2, 3), np.uint8))


def _feed(builder: TrackletBuilder, tracks: dict[int, list[TrackPoint]], until: int) -> list:
    out = []
    for frame in range(until):
        for tid, points in tracks.items():
            for p in points:
                if p.frame_index == frame:
                    builder.add_point(tid, p)
        out += builder.expire(T0 + timedelta(seconds=frame / FPS))[0]
    return out + builder.finish_all()[0]


def test_builder_joins_a_lost_track_to_its_continuation() -> None:
    builder = TrackletBuilder("cam", min_points=3, lost_after_s=3.0, post=SETTINGS)
    builder.add_face(1, _face(0.4))
    builder.add_face(2, _face(0.7))
    tracks = {
        1: [_walker(f) for f in range(0, 20)],
        2: [_walker(f) for f in range(26, 60)],  # the same person after 6 hidden frames
        3: [_walker(f, x0=600, vx=-5) for f in range(0, 60)],  # someone else throughout
    }
    done = _feed(builder, tracks, 70)
    by_id = {t.track_id: t for t in done}
    assert sorted(by_id) == [1, 3]
    joined = by_id[1]
    assert [p.frame_index for p in joined.points] == list(range(0, 60))
    assert [p.confidence for p in joined.points[20:26]] == [0.0] * 6
    assert [f.quality for f in joined.faces] == [0.7, 0.4]
    assert len(by_id[3].points) == 60


def test_builder_does_not_join_people_going_elsewhere() -> None:
    builder = TrackletBuilder("cam", min_points=3, lost_after_s=3.0, post=SETTINGS)
    tracks = {
        1: [_walker(f) for f in range(0, 20)],
        2: [_walker(f, x0=420, vx=-10) for f in range(24, 60)],  # 1.7 heights away
    }
    done = _feed(builder, tracks, 70)
    assert sorted(t.track_id for t in done) == [1, 2]


def test_without_post_settings_paths_are_stored_as_seen() -> None:
    builder = TrackletBuilder("cam", min_points=3, lost_after_s=3.0)
    tracks = {1: [_walker(f) for f in range(0, 20)], 2: [_walker(f) for f in range(26, 60)]}
    done = _feed(builder, tracks, 70)
    assert sorted(t.track_id for t in done) == [1, 2]
    assert len(done[0].points) == 20


def test_cut_segments_keep_distinct_ids_when_linking() -> None:
    builder = TrackletBuilder(
        "cam", min_points=1, lost_after_s=3.0, max_duration_s=2.0, post=SETTINGS
    )
    done = _feed(builder, {5: [_walker(f, vx=1) for f in range(0, 40)]}, 45)
    ids = [t.track_id for t in done]
    assert len(ids) == len(set(ids)) >= 2
    assert ids[0] == 5 and ids[1] == 5 + SEGMENT_STRIDE
