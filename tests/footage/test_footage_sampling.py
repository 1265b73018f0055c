"""The sampling rule against its definition: first frame at or after each k / analysis_fps."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from cctrace.footage.sampling import Sampler, first_index_at


def by_definition(n_frames: int, source_fps: Fraction, analysis_fps: Fraction) -> list[int]:
    """For each sample time k / analysis_fps, the first frame i with i / source_fps >= it."""
    kept: set[int] = set()
    k = 0
    while True:
        index = math.ceil(Fraction(k) / analysis_fps * source_fps)
        if index >= n_frames:
            return sorted(kept)
        kept.add(index)
        k += 1


RATES = [(10, 1), (10, 2), (10, 7), (10, 10), (25, 7), (25, 2), (25, 3), (29.97, 5),
         (7, 2), (30, 25), (12.5, 4), (10, 25)]  # fmt: skip


@pytest.mark.parametrize(("source", "analysis"), RATES)
def test_sampler_matches_the_definition(source: float, analysis: float) -> None:
    src = Fraction(source).limit_denominator(1000)
    sampler = Sampler(src, analysis)
    kept = [i for i in range(500) if sampler.keep(i)]
    assert kept == by_definition(500, src, Fraction(analysis).limit_denominator(1000))


@pytest.mark.parametrize(("source", "analysis"), RATES)
def test_a_resumed_sampler_keeps_the_same_frames(source: float, analysis: float) -> None:
    src = Fraction(source).limit_denominator(1000)
    full = Sampler(src, analysis)
    kept = [i for i in range(300) if full.keep(i)]
    for first in range(0, 300, 7):
        resumed = Sampler(src, analysis, first_index=first)
        # After a seek the decoder starts at a keyframe before `first`.
        assert [i for i in range(max(0, first - 13), 300) if resumed.keep(i)] == [
            i for i in kept if i >= first
        ]


def test_missing_frames_move_the_sample_to_the_next_frame() -> None:
    sampler = Sampler(Fraction(10), 2)  # samples at frames 0, 5, 10, 15
    offered = [0, 1, 2, 3, 4, 7, 8, 9, 10, 12, 16]  # 5, 6 and 15 never decoded
    assert [i for i in offered if sampler.keep(i)] == [0, 7, 10, 16]


@pytest.mark.parametrize(
    ("offset", "fps", "index"),
    [(0.0, 10, 0), (-1.0, 10, 0), (3.3, 10, 33), (3.31, 10, 34), (33 / 7, 7, 33),
     (0.1 + 0.2, 10, 3), (1 / 3, 3, 1)],
)  # fmt: skip
def test_first_index_at(offset: float, fps: int, index: int) -> None:
    assert first_index_at(offset, Fraction(fps)) == index


def test_sampler_rejects_bad_rates() -> None:
    with pytest.raises(ValueError, match="analysis fps"):
        Sampler(Fraction(10), 0)
    with pytest.raises(ValueError, match="source fps"):
        Sampler(Fraction(0), 1)
