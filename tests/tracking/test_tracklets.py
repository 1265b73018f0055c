"""Tracklet building: best faces kept, mask votes, expiry, noise dropped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from cctrace.tracking.tracklets import TrackletBuilder, vote_mask
from cctrace.types import FaceSample, MaskStatus, TrackPoint

T0 = datetime(2026, 3, 15, 8, 0, tzinfo=UTC)


def _point(i: int) -> TrackPoint:
    return TrackPoint(i, T0 + timedelta(seconds=i / 7), (0, 0, 10, 30), (float(i), 0.0), 0.9)


def _face(i: int, quality: float, mask: float | None) -> FaceSample:
    return FaceSample(
        i, T0, np.ones(128, np.float32) / np.sqrt(128), quality, mask, np.zeros((4, 4, 3), np.uint8)
    )


@pytest.mark.parametrize(
    ("worn", "not_worn", "expect"),
    [
        (0, 0, MaskStatus.UNKNOWN),
        (3, 0, MaskStatus.WORN),
        (0, 2, MaskStatus.NOT_WORN),
        (3, 2, MaskStatus.WORN),
        (1, 1, MaskStatus.UNKNOWN),
        (2, 3, MaskStatus.NOT_WORN),
    ],
)
def test_vote_mask(worn: int, not_worn: int, expect: MaskStatus) -> None:
    assert vote_mask(worn, not_worn) == expect


def test_keeps_best_faces_and_votes_all() -> None:
    builder = TrackletBuilder("cam", faces_per_tracklet=2, min_points=1)
    builder.add_point(7, _point(0))
    for i, (q, m) in enumerate([(0.2, 0.9), (0.8, 0.9), (0.5, 0.1), (0.9, 0.8)]):
        builder.add_face(7, _face(i, q, m))
    assert not builder.would_keep_face(7, 0.7)
    assert builder.would_keep_face(7, 0.85)
    (tracklet,), ids = builder.finish_all()
    assert ids == {7}
    assert [f.quality for f in tracklet.faces] == [0.9, 0.8]
    assert tracklet.mask_votes == (3, 1)
    assert tracklet.mask_status == MaskStatus.WORN


def test_expiry_and_noise() -> None:
    builder = TrackletBuilder("cam", min_points=3, lost_after_s=1.0)
    for i in range(5):
        builder.add_point(1, _point(i))
    builder.add_point(2, _point(4))
    kept, gone = builder.expire(T0 + timedelta(seconds=4 / 7 + 0.5))
    assert kept == [] and gone == set()
    kept, gone = builder.expire(T0 + timedelta(seconds=3))
    assert gone == {1, 2}
    assert [t.track_id for t in kept] == [1]
    assert kept[0].start == T0
    assert builder.open_ids == set()


def test_long_tracks_are_cut_and_continue_under_a_new_id() -> None:
    builder = TrackletBuilder("cam", min_points=1, max_duration_s=10.0)
    kept_all = []
    for i in range(0, 7 * 25):  # 25 s at 7 fps
        builder.add_point(3, _point(i))
        kept, _ = builder.expire(T0 + timedelta(seconds=i / 7))
        kept_all.extend(kept)
    tail, _ = builder.finish_all()
    kept_all.extend(tail)
    ids = [t.track_id for t in kept_all]
    assert ids == [3, 1_000_003, 2_000_003]
    assert sum(len(t.points) for t in kept_all) == 7 * 25
    assert all((t.end - t.start).total_seconds() <= 10.0 for t in kept_all)
