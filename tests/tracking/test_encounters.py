"""Encounter accumulation: synthetic tables and PETS2009 ground-truth positions."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from cctrace.tracking.encounters import EncounterAccumulator

T0 = datetime(2026, 3, 15, 8, 0, tzinfo=UTC)


def _feed(
    acc: EncounterAccumulator, frames: list[dict[int, tuple[float, float]]], fps: float
) -> None:
    for i, positions in enumerate(frames):
        ids = np.array(sorted(positions))
        xy = np.array([positions[k] for k in ids]) if len(ids) else np.zeros((0, 2))
        acc.update(T0 + timedelta(seconds=i / fps), ids, xy)


@pytest.mark.parametrize(
    ("distance", "frames", "expect"),
    [
        # (distance between two people, frames together, expected seconds per band 1/2/3 m)
        (0.5, 10, (10 / 5, 10 / 5, 10 / 5)),
        (1.5, 10, (0.0, 10 / 5, 10 / 5)),
        (2.5, 5, (0.0, 0.0, 5 / 5)),
        (4.0, 10, None),
    ],
)
def test_bands(distance: float, frames: int, expect: tuple[float, float, float] | None) -> None:
    acc = EncounterAccumulator("cam", (1.0, 2.0, 3.0), max_gap_s=1.0, nominal_step_s=1 / 5)
    _feed(acc, [{1: (0.0, 0.0), 2: (distance, 0.0)}] * frames, fps=5)
    encounters = acc.close_all()
    if expect is None:
        assert encounters == []
        return
    (enc,) = encounters
    assert (enc.track_a, enc.track_b) == (1, 2)
    got = tuple(enc.seconds_within[b] for b in (1.0, 2.0, 3.0))
    assert got == pytest.approx(expect)
    assert enc.min_distance_m == pytest.approx(distance)


def test_gap_is_capped() -> None:
    acc = EncounterAccumulator("cam", (1.0,), max_gap_s=0.5, nominal_step_s=0.2)
    acc.update(T0, np.array([1, 2]), np.array([[0, 0], [0.5, 0]]))
    acc.update(T0 + timedelta(seconds=10), np.array([1, 2]), np.array([[0, 0], [0.5, 0]]))
    (enc,) = acc.close_all()
    assert enc.seconds_within[1.0] == pytest.approx(0.2 + 0.5)


def test_close_tracks_only_closes_their_pairs() -> None:
    acc = EncounterAccumulator("cam")
    acc.update(T0, np.array([1, 2, 3]), np.array([[0, 0], [0.5, 0], [1.0, 0]]))
    closed = acc.close_tracks({1})
    assert {(e.track_a, e.track_b) for e in closed} == {(1, 2), (1, 3)}
    assert [(e.track_a, e.track_b) for e in acc.close_all()] == [(2, 3)]


def test_bad_bands_raise() -> None:
    with pytest.raises(ValueError, match="positive"):
        EncounterAccumulator("cam", (0.0, 1.0))


def test_pets_ground_truth_pairs(pets_dir: Path) -> None:
    """Ground-truth positions give the documented close pairs (11-12: 341 frames <= 1 m)."""
    by_frame: dict[int, dict[int, tuple[float, float]]] = defaultdict(dict)
    with (pets_dir / "gt_world_m.csv").open() as fh:
        for row in csv.DictReader(fh):
            by_frame[int(row["frame"])][int(row["id"])] = (float(row["x_m"]), float(row["y_m"]))
    fps = 7.0
    acc = EncounterAccumulator("view001", (1.0, 2.0, 3.0), max_gap_s=1.0, nominal_step_s=1 / fps)
    last = max(by_frame)
    _feed(acc, [by_frame.get(f, {}) for f in range(1, last + 1)], fps)
    pairs = {(e.track_a, e.track_b): e for e in acc.close_all()}
    assert pairs[(11, 12)].seconds_within[1.0] * fps == pytest.approx(341, abs=1)
    assert pairs[(9, 15)].seconds_within[1.0] * fps == pytest.approx(109, abs=1)
