"""The frame picker numbers each person inside their own box, clear of neighbours."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from cctrace.web.picker import PALETTE, draw_labels, place_labels

Box = tuple[float, float, float, float]


def _inside(point: tuple[float, float], box: Box) -> bool:
    return box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]


def _overlap(a: Box, b: Box) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return max(0.0, w) * max(0.0, h)


@pytest.mark.parametrize(
    ("people", "boxed_in"),
    [
        ({1: (100.0, 100.0, 160.0, 300.0)}, set()),
        # side by side, overlapping: the number of each lies in its own part
        ({7: (100.0, 100.0, 160.0, 300.0), 12: (140.0, 110.0, 200.0, 310.0)}, set()),
        # a smaller, further person wholly in front of a nearer one: only the smaller
        # one's number must overlap the other box
        ({3: (100.0, 100.0, 180.0, 330.0), 4: (120.0, 90.0, 160.0, 200.0)}, {4}),
        # a crowd of five in a row, each overlapping the next
        ({i: (100.0 + 50 * i, 100.0, 160.0 + 50 * i, 300.0) for i in range(10, 15)}, set()),
        # a box narrower than its number
        ({1234: (100.0, 100.0, 115.0, 150.0), 5: (140.0, 100.0, 200.0, 300.0)}, set()),
    ],
)
def test_each_number_lies_in_its_own_box_and_in_no_other(
    people: dict[int, Box], boxed_in: set[int]
) -> None:
    labels = place_labels(people)
    assert [lab.tracklet_id for lab in labels] == sorted(people)
    for lab in labels:
        tag = lab.label_xyxy
        centre = ((tag[0] + tag[2]) / 2, (tag[1] + tag[3]) / 2)
        assert lab.box == people[lab.tracklet_id]
        assert _inside(centre, lab.box)
        if lab.tracklet_id in boxed_in:
            continue
        assert lab.clear, f"person {lab.tracklet_id}: no clear spot found"
        assert all(_overlap(tag, b) == 0 for t, b in people.items() if t != lab.tracklet_id)
    tags = [lab.label_xyxy for lab in labels]
    assert all(_overlap(a, b) == 0 for i, a in enumerate(tags) for b in tags[i + 1 :])


def _shared() -> Path:
    env = os.environ.get("CCTRACE_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared" / "data"


CROSSING_FRAMES = (30, 163, 294, 354, 671)
"""0-based PETS2009 S2L1 frames where two people's ground-truth boxes overlap (IoU 0.6-0.8)."""


def test_pets_people_crossing_are_numbered_as_the_boxes_drawn() -> None:
    """Real frames of people crossing (PETS2009 S2L1, ground-truth boxes as tracklets):
    every number is drawn inside its own person's box, in that person's colour, and
    clear of every other box wherever the boxes leave room."""
    import av

    root = _shared() / "pets2009-s2l1"
    if not (root / "view001.mp4").is_file():
        pytest.skip(f"shared data not found: {root / 'view001.mp4'}")
    gt = np.loadtxt(root / "gt_mot.txt", delimiter=",")
    frames: dict[int, np.ndarray] = {}
    with av.open(str(root / "view001.mp4")) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in CROSSING_FRAMES:
                frames[index] = frame.to_ndarray(format="bgr24")
            if index >= max(CROSSING_FRAMES):
                break
    clear = total = 0
    for index, image in frames.items():
        rows = gt[gt[:, 0] == index + 1]
        # Tracklet numbers unrelated to the order of the boxes (as in a real store).
        people: dict[int, Box] = {
            int(r[1]) * 37 + 1000: (
                float(r[2]),
                float(r[3]),
                float(r[2] + r[4]),
                float(r[3] + r[5]),
            )
            for r in rows
        }
        labels = place_labels(people)
        drawn = draw_labels(image.copy(), labels)
        for i, lab in enumerate(labels):
            tag = lab.label_xyxy
            centre = ((tag[0] + tag[2]) / 2, (tag[1] + tag[3]) / 2)
            assert _inside(centre, people[lab.tracklet_id]), (index, lab)
            # The tag is filled with the person's own outline colour.
            x, y = round(tag[0]) + 2, round(tag[1]) + 2
            assert tuple(int(v) for v in drawn[y, x]) == PALETTE[i % len(PALETTE)]
            others = [b for t, b in people.items() if t != lab.tracklet_id]
            if lab.clear:
                assert all(_overlap(tag, b) == 0 for b in others)
            # Where boxes leave no room (far, narrow people), the tag's centre is at
            # least as near its own box's centre line as any other box holding it.
            holders = [b for b in others if _inside(centre, b)]
            own = people[lab.tracklet_id]
            for b in holders:
                own_dx = abs(centre[0] - (own[0] + own[2]) / 2)
                assert own_dx <= abs(centre[0] - (b[0] + b[2]) / 2) + 1e-6, (index, lab, b)
            clear += lab.clear
            total += 1
        tags = [lab.label_xyxy for lab in labels]
        assert all(_overlap(a, b) == 0 for i, a in enumerate(tags) for b in tags[i + 1 :])
    assert total >= 20
    # Measured: 13 of 31 numbers clear of every other box. PETS people far from the
    # camera are 20-30 px wide, narrower than a 4-digit number, and overlap.
    assert clear >= 0.35 * total, f"only {clear} of {total} numbers clear of other boxes"
