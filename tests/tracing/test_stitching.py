"""Linking one person's track fragments by motion continuity and shared paths."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cctrace.tracing.stitching import (
    continuation_cost,
    linked_fragments,
    make_fragment,
    same_path,
)

T0 = datetime(2026, 3, 15, 8, 0, tzinfo=UTC)


def _walk(tid: int, cam: str, t0: float, t1: float, x0: float, speed: float = 1.0, y: float = 0.0):  # type: ignore[no-untyped-def]
    points = []
    t = t0
    while t <= t1 + 1e-9:
        points.append((T0 + timedelta(seconds=t), x0 + speed * (t - t0), y))
        t += 0.2
    return make_fragment(tid, cam, points)


@pytest.mark.parametrize(
    ("gap_s", "jump_m", "linked"),
    [
        (0.5, 0.5, True),  # short gap, the person kept walking
        (1.2, 2.0, True),  # 1.2 s gap, 2 m: within walking reach
        (1.0, 6.0, False),  # too far for the time
        (3.0, 1.0, False),  # too long a gap
        (-1.0, 0.0, False),  # overlapping in time: two people
    ],
)
def test_continuation(gap_s: float, jump_m: float, linked: bool) -> None:
    a = _walk(1, "cam", 0, 5, 0)
    b = _walk(2, "cam", 5 + gap_s, 9 + gap_s, a.xy[-1, 0] + jump_m)
    assert (continuation_cost(a, b) is not None) is linked


def test_other_camera_is_not_a_continuation() -> None:
    assert continuation_cost(_walk(1, "a", 0, 5, 0), _walk(2, "b", 5.4, 9, 5.2)) is None


def test_same_path_in_overlapping_cameras() -> None:
    a = _walk(1, "west", 0, 10, 0)
    same = _walk(2, "east", 4, 14, 4.3)
    other = _walk(3, "east", 4, 14, 4.0, y=3.0)
    assert same_path(a, same)
    assert not same_path(a, other)


def test_chain_is_followed_and_ambiguity_is_not() -> None:
    a = _walk(1, "cam", 0, 5, 0)
    b = _walk(2, "cam", 5.5, 10, 5.5)
    c = _walk(3, "cam", 10.5, 15, 11.0)
    assert linked_fragments([1], [a, b, c]) == {1: 1, 2: 1, 3: 1}
    twin = _walk(4, "cam", 5.5, 10, 5.6, y=0.2)  # two equally good continuations
    assert linked_fragments([1], [a, b, twin]) == {1: 1}
