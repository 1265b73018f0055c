"""Encounters between ground paths: bands, gap filling, smoothing, PETS ground truth."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from cctrace.tracking.encounters import (
    EncounterBuilder,
    EncounterSettings,
    encounter_between,
    make_path,
)
from cctrace.types import Tracklet, TrackPoint

T0 = datetime(2026, 3, 15, 8, 0, tzinfo=UTC)
FPS = 5.0
NO_SMOOTH = EncounterSettings(step_s=1 / FPS, smooth_s=0.0)


def _path(tid: int, frames: list[int], x: float, settings: EncounterSettings = NO_SMOOTH):  # type: ignore[no-untyped-def]
    t = np.array(frames, float) / FPS
    xy = np.column_stack([np.full(len(t), x), np.zeros(len(t))])
    return make_path(tid, T0, t, xy, settings)


@pytest.mark.parametrize(
    ("distance", "frames", "expect"),
    [
        # (distance between two people, frames together, expected seconds in bands 1/2/3 m)
        (0.5, 10, (2.0, 2.0, 2.0)),
        (1.5, 10, (0.0, 2.0, 2.0)),
        (2.5, 5, (0.0, 0.0, 1.0)),
        (4.0, 10, None),
    ],
)
def test_bands(distance: float, frames: int, expect: tuple[float, float, float] | None) -> None:
    a = _path(1, list(range(frames)), 0.0)
    b = _path(2, list(range(frames)), distance)
    enc = encounter_between(b, a, "cam", NO_SMOOTH)
    if expect is None:
        assert enc is None
        return
    assert enc is not None
    assert (enc.track_a, enc.track_b) == (1, 2)
    got = tuple(enc.seconds_within[band] for band in (1.0, 2.0, 3.0))
    assert got == pytest.approx(expect)
    assert enc.min_distance_m == pytest.approx(distance)


def test_short_gaps_are_filled_long_gaps_are_not() -> None:
    a = _path(1, list(range(30)), 0.0)
    b_short = _path(2, [*range(0, 10), *range(14, 30)], 0.5)  # 0.8 s drop-out: filled
    b_long = _path(3, [*range(0, 10), *range(25, 30)], 0.5)  # 3 s drop-out: not filled
    short = encounter_between(a, b_short, "cam", NO_SMOOTH)
    long = encounter_between(a, b_long, "cam", NO_SMOOTH)
    assert short is not None and long is not None
    assert short.seconds_within[1.0] == pytest.approx(30 / FPS)
    assert long.seconds_within[1.0] == pytest.approx(15 / FPS)


def test_smoothing_removes_jitter() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(50) / FPS
    a = make_path(1, T0, t, np.zeros((50, 2)), EncounterSettings(step_s=1 / FPS))
    jitter = np.column_stack([0.8 + rng.normal(0, 0.3, 50), np.zeros(50)])
    raw = make_path(2, T0, t, jitter, NO_SMOOTH)
    smooth = make_path(2, T0, t, jitter, EncounterSettings(step_s=1 / FPS, smooth_s=1.0))
    s_raw = encounter_between(a, raw, "cam", NO_SMOOTH)
    s_smooth = encounter_between(a, smooth, "cam", NO_SMOOTH)
    assert s_raw is not None and s_smooth is not None
    assert s_smooth.seconds_within[1.0] > s_raw.seconds_within[1.0]


def test_disjoint_paths_have_no_encounter() -> None:
    assert encounter_between(_path(1, [0, 1, 2], 0), _path(2, [10, 11], 0), "c", NO_SMOOTH) is None


@pytest.mark.parametrize(
    "settings",
    [{"bands_m": (0.0, 1.0)}, {"bands_m": ()}, {"step_s": 0.0}],
)
def test_bad_settings_raise(settings: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        EncounterSettings(**settings)  # type: ignore[arg-type]


def _tracklet(tid: int, frames: list[int], x: float) -> Tracklet:
    points = tuple(
        TrackPoint(f, T0 + timedelta(seconds=f / FPS), (0, 0, 1, 1), (x, 0.0), 0.9) for f in frames
    )
    return Tracklet("cam", tid, points)


def test_builder_pairs_finished_tracklets_and_forgets_old_ones() -> None:
    builder = EncounterBuilder("cam", NO_SMOOTH)
    assert builder.add_finished([_tracklet(1, list(range(10)), 0.0)]) == []
    (enc,) = builder.add_finished([_tracklet(2, list(range(5, 20)), 0.5)])
    assert (enc.track_a, enc.track_b) == (1, 2)
    assert enc.seconds_within[1.0] == pytest.approx(5 / FPS)
    builder.forget_before(T0 + timedelta(seconds=100))
    assert builder.add_finished([_tracklet(3, list(range(10)), 0.2)]) == []


def test_pets_ground_truth_pairs(pets_dir: Path) -> None:
    """Ground-truth positions give the documented close pairs (11-12: 341 frames <= 1 m)."""
    tracks: dict[int, list[tuple[int, float, float]]] = defaultdict(list)
    with (pets_dir / "gt_world_m.csv").open() as fh:
        for row in csv.DictReader(fh):
            tracks[int(row["id"])].append((int(row["frame"]), float(row["x_m"]), float(row["y_m"])))
    settings = EncounterSettings(step_s=1 / 7, smooth_s=0.0, max_gap_s=0.01)
    paths = {
        tid: make_path(
            tid,
            T0,
            np.array([f / 7 for f, _, _ in rows]),
            np.array([[x, y] for _, x, y in rows]),
            settings,
        )
        for tid, rows in tracks.items()
    }
    for (a, b), frames in {(11, 12): 341, (9, 15): 109}.items():
        enc = encounter_between(paths[a], paths[b], "view001", settings)
        assert enc is not None
        assert enc.seconds_within[1.0] * 7 == pytest.approx(frames, abs=1)
