"""Box IoU and greedy matching."""

from __future__ import annotations

import pytest

from cctrace.boxes import box_iou, count_greedy_matches, iou_matrix


@pytest.mark.parametrize(
    ("a", "b", "expect"),
    [
        ((0, 0, 10, 10), (0, 0, 10, 10), 1.0),
        ((0, 0, 10, 10), (5, 0, 15, 10), 50 / 150),
        ((0, 0, 10, 10), (20, 20, 30, 30), 0.0),
        ((0, 0, 0, 0), (0, 0, 0, 0), 0.0),
    ],
)
def test_box_iou(a: tuple[float, ...], b: tuple[float, ...], expect: float) -> None:
    assert box_iou(a, b) == pytest.approx(expect)


def test_matrix_shape_and_greedy_matching_is_one_to_one() -> None:
    pred = [(0, 0, 10, 10), (1, 0, 11, 10), (50, 50, 60, 60)]
    gt = [(0, 0, 10, 10), (100, 100, 110, 110)]
    assert iou_matrix(pred, gt).shape == (3, 2)
    assert count_greedy_matches(pred, gt) == 1
    assert count_greedy_matches([], gt) == 0
