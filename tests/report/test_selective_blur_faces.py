"""Exports keep a face sharp only when it is positively an allowed person's."""

from __future__ import annotations

import pytest

from cctrace.report.selective_blur import plan_blur

Box = tuple[float, float, float, float]
CASE: Box = (100.0, 100.0, 160.0, 300.0)
NEIGHBOUR: Box = (150.0, 105.0, 210.0, 305.0)  # side by side, boxes overlapping


@pytest.mark.parametrize(
    ("faces", "others", "subject_faces", "kept"),
    [
        ([(120.0, 105.0, 140.0, 125.0)], [], None, 1),  # the case's own face
        ([(143.0, 108.0, 163.0, 128.0)], [NEIGHBOUR], None, 0),  # between two heads
        ([(170.0, 112.0, 190.0, 132.0)], [NEIGHBOUR], None, 0),  # the neighbour's face
        ([(400.0, 50.0, 420.0, 70.0)], [], None, 0),  # whole-frame search, no person box
        ([(120.0, 105.0, 132.0, 117.0), (134.0, 112.0, 146.0, 124.0)], [], None, 0),  # 2 in 1 head
        # The face that matched the query is kept, whatever the boxes say; nothing else.
        (
            [(143.0, 108.0, 163.0, 128.0), (400.0, 50.0, 420.0, 70.0)],
            [NEIGHBOUR],
            [(144.0, 108.0, 163.0, 128.0)],
            1,
        ),
    ],
)
def test_faces_kept_table(
    faces: list[Box], others: list[Box], subject_faces: list[Box] | None, kept: int
) -> None:
    plan = plan_blur({1: CASE}, others, faces=faces, subject_faces=subject_faces)
    assert len(plan.kept_faces) == kept
    assert len(plan.faces) == len(faces) - kept
