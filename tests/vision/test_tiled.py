"""Tiles plus a whole-frame pass: containment-aware merging, on tables and on real frames.

The real cases are PETS2009 S2L1 frames cropped and enlarged (``evaluation.detection``)
so that people are 300-450 px tall in a 768x576 frame, as near a camera, written as a
clip and decoded back (a real encode).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cctrace.boxes import count_greedy_matches, iou_matrix
from cctrace.config import ModelsConfig
from cctrace.evaluation.detection import ZoomClip, ZoomCrop, make_zoom_clip, read_clip, read_frames
from cctrace.vision import build_person_detector, tiled
from cctrace.vision.tiled import fuse_passes, suppress_parts, tile_windows

F = np.float32


def _run(
    tiles: list[list[float]],
    cut: list[bool],
    full: list[list[float]],
    tconf: list[float],
    fconf: list[float],
) -> list[list[float]]:
    xyxy, _ = suppress_parts(
        np.asarray(tiles, F).reshape(-1, 4),
        np.asarray(tconf, F),
        np.asarray(cut, bool),
        np.asarray(full, F).reshape(-1, 4),
        np.asarray(fconf, F),
        frame_height=576,
    )
    return xyxy.tolist()


BIG = [100, 0, 300, 500]


@pytest.mark.parametrize(
    ("tiles", "cut", "tconf", "full", "fconf", "expected"),
    [
        # halves of a big person, cut by the seam at x=200: the whole-frame box stays alone
        ([[100, 0, 203, 500], [198, 0, 300, 500]], [True, True], [0.4, 0.3], [BIG], [0.9], [BIG]),
        # a short partial view (head and shoulders) inside the big box goes
        ([[150, 0, 250, 200]], [False], [0.5], [BIG], [0.9], [BIG]),
        # two people side by side that the coarse pass merged: both stay, big box goes
        (
            [[100, 0, 195, 480], [205, 10, 300, 500]],
            [False, False],
            [0.8, 0.7],
            [BIG],
            [0.9],
            [[100, 0, 195, 480], [205, 10, 300, 500]],
        ),
        # one person seen whole by both: the more confident box stays
        ([[110, 5, 290, 495]], [False], [0.95], [BIG], [0.6], [[110, 5, 290, 495]]),
        ([[110, 5, 290, 495]], [False], [0.4], [BIG], [0.9], [BIG]),
        # a person under half the frame height seen whole by a tile keeps the tile's box
        ([[110, 5, 190, 245]], [False], [0.3], [[100, 0, 200, 250]], [0.9], [[110, 5, 190, 245]]),
        # two tall tile boxes one above the other (legs, torso) are parts, not two people
        (
            [[110, 200, 290, 500], [120, 0, 280, 320]],
            [False, False],
            [0.5, 0.4],
            [BIG],
            [0.9],
            [BIG],
        ),
        # two people one behind the other merged into one thin box (PETS S2L1 frame 585)
        (
            [[655, 223, 688, 320], [639, 304, 669, 411]],
            [False, False],
            [0.5, 0.5],
            [[640, 209, 679, 415]],
            [0.9],
            [[655, 223, 688, 320], [639, 304, 669, 411]],
        ),
        # one person behind another, both seen whole and surely by the tiles (they overlap
        # too much to be side by side, too little to be one): both stay, big box goes
        (
            [[150, 0, 260, 420], [120, 60, 220, 500]],
            [False, False],
            [0.9, 0.8],
            [BIG],
            [0.95],
            [[150, 0, 260, 420], [120, 60, 220, 500]],
        ),
        # ... not when the second box is unsure: the more confident single box stays
        (
            [[150, 0, 260, 420], [120, 60, 220, 500]],
            [False, False],
            [0.9, 0.4],
            [BIG],
            [0.95],
            [BIG],
        ),
        # ... nor when both end at the same feet (one person near the seam: arm, legs)
        (
            [[150, 20, 260, 480], [120, 60, 220, 490]],
            [False, False],
            [0.9, 0.8],
            [BIG],
            [0.95],
            [BIG],
        ),
        # ... nor when the two boxes are one person seen twice (IoU >= 0.5)
        (
            [[110, 5, 290, 495], [120, 10, 290, 500]],
            [False, False],
            [0.9, 0.8],
            [BIG],
            [0.95],
            [BIG],
        ),
        # a whole person next to (not inside) the big box is untouched
        ([[320, 0, 400, 300]], [False], [0.5], [BIG], [0.9], [[320, 0, 400, 300], BIG]),
        # no whole-frame boxes, no tile boxes
        ([[10, 10, 50, 90]], [False], [0.5], [], [], [[10, 10, 50, 90]]),
        ([], [], [], [BIG], [0.9], [BIG]),
    ],
    ids=[
        "halves",
        "partial",
        "side-by-side",
        "tile-better",
        "full-better",
        "small-keeps-tile",
        "stacked-parts",
        "stacked-people",
        "behind",
        "behind-unsure",
        "behind-same-feet",
        "behind-same-person",
        "beside",
        "no-full",
        "no-tiles",
    ],
)
def test_suppress_parts(
    tiles: list[list[float]],
    cut: list[bool],
    tconf: list[float],
    full: list[list[float]],
    fconf: list[float],
    expected: list[list[float]],
) -> None:
    assert _run(tiles, cut, full, tconf, fconf) == expected


def test_fuse_passes_averages_one_person_and_keeps_two_apart() -> None:
    first = (
        np.array([[100, 0, 200, 400], [100, 10, 196, 398], [400, 0, 480, 300]], F),
        np.array([0.9, 0.5, 0.8], F),
    )
    second = (np.array([[110, 0, 210, 420], [600, 0, 650, 200]], F), np.array([0.3, 0.6], F))
    xyxy, conf = fuse_passes([first, second])
    # the person both passes saw: each pass's best box, weighted 0.9 and 0.3
    np.testing.assert_allclose(xyxy[0], [102.5, 0, 202.5, 405], atol=1e-4)
    assert conf.tolist() == pytest.approx([0.9, 0.8, 0.6])
    np.testing.assert_allclose(xyxy[1:], [[400, 0, 480, 300], [600, 0, 650, 200]])
    # one pass: plain NMS (the weaker of the two overlapping boxes goes)
    one, _ = fuse_passes([first])
    np.testing.assert_allclose(one, [[100, 0, 200, 400], [400, 0, 480, 300]])
    empty, empty_conf = fuse_passes([(np.zeros((0, 4), F), np.zeros(0, F))])
    assert empty.shape == (0, 4) and empty_conf.shape == (0,)


def test_two_side_by_side_tiles_overlap() -> None:
    assert tile_windows(576, 768, (2, 1), 0.2) == [(0, 0, 427, 576), (341, 0, 768, 576)]


@pytest.mark.parametrize(
    "params",
    [
        {"full_frame_size": 300},
        {"full_frame_size": 0},
        {"full_frame_min_height": 1.0},
        {"full_frame_min_height": -0.1},
        {"full_frame_trigger": 1.0},
        {"full_frame_fuse_size": 300},
    ],
)
def test_bad_full_frame_params_raise(params: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="full_frame"):
        build_person_detector("yolov3-tiny-int8", tiles=(2, 1), **params)


# People enlarged to ~450 px and straddling the seam between the two tiles; frames where
# the two tiles alone (the previous default) gave two half boxes or none (measured).
BIG_PERSON_CROPS = [
    ZoomCrop(305, (572, 156, 699, 251), (768, 576)),
    ZoomCrop(385, (529, 263, 706, 395), (768, 576)),
    ZoomCrop(425, (490, 142, 602, 226), (768, 576)),
    ZoomCrop(545, (161, 349, 401, 529), (768, 576)),
    ZoomCrop(585, (548, 169, 687, 273), (768, 576)),
    ZoomCrop(705, (17, 263, 197, 398), (768, 576)),
]
# PETS ids 11 and 12 walking shoulder to shoulder, enlarged ~3.5x about their midpoint
# (frame 50: on the seam) so that each is 300-330 px tall.
PAIR_CROPS = [
    ZoomCrop(50, (438, 180, 657, 344), (768, 576)),
    ZoomCrop(300, (493, 118, 712, 282), (768, 576)),
    ZoomCrop(325, (511, 149, 730, 313), (768, 576)),
]


def _clip(crops: list[ZoomCrop], gt: dict[int, np.ndarray], video: Path, out: Path) -> ZoomClip:
    frames = read_frames(video, {c.frame for c in crops})
    return make_zoom_clip(frames, gt, crops, out)


@pytest.fixture(scope="module")
def default_detector() -> Any:
    choice = ModelsConfig().person_detector
    return build_person_detector(choice.type, **choice.params)


def _centre_person(boxes: np.ndarray) -> np.ndarray:
    tall = boxes[boxes[:, 3] - boxes[:, 1] > 350]
    return tall[np.argmin(np.abs((tall[:, 0] + tall[:, 2]) / 2 - 384))]


def _inside(xyxy: np.ndarray, box: np.ndarray) -> int:
    ix = np.clip(np.minimum(xyxy[:, 2], box[2]) - np.maximum(xyxy[:, 0], box[0]), 0, None)
    iy = np.clip(np.minimum(xyxy[:, 3], box[3]) - np.maximum(xyxy[:, 1], box[1]), 0, None)
    area = (xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])
    return int((ix * iy / np.maximum(area, 1e-6) > 0.7).sum())


def test_near_camera_person_is_one_box(
    tmp_path: Path,
    pets_gt: dict[int, np.ndarray],
    data_path: Callable[..., Path],
    default_detector: Any,
) -> None:
    video = data_path("pets2009-s2l1", "view001.mp4")
    clip = _clip(BIG_PERSON_CROPS, pets_gt, video, tmp_path / "big.mp4")
    frames = read_clip(clip.path)
    tiles_only = build_person_detector(
        "yolov3-tiny-int8", tiles=(2, 1), tile_full_frame=False, nms_threshold=0.6
    )
    split_before = 0
    for k, frame in frames.items():
        person = _centre_person(clip.gt[k])
        boxes = default_detector.detect(frame).xyxy
        assert _inside(boxes, person) == 1, (k, boxes.round(), person)
        assert iou_matrix(boxes, person[None]).max() >= 0.6, (k, boxes.round(), person)
        old = tiles_only.detect(frame).xyxy
        split_before += _inside(old, person) != 1 or iou_matrix(old, person[None]).max() < 0.5
    assert split_before >= 4, "these frames were chosen because tiles alone split or missed them"


def test_people_side_by_side_stay_two_boxes(
    tmp_path: Path,
    pets_gt: dict[int, np.ndarray],
    data_path: Callable[..., Path],
    default_detector: Any,
) -> None:
    video = data_path("pets2009-s2l1", "view001.mp4")
    clip = _clip(PAIR_CROPS, pets_gt, video, tmp_path / "pair.mp4")
    for k, frame in read_clip(clip.path).items():
        gt = clip.gt[k][~clip.ignore[k]]
        pair = gt[gt[:, 3] - gt[:, 1] > 250]
        assert len(pair) == 2, (k, gt.round())
        boxes = default_detector.detect(frame).xyxy
        assert count_greedy_matches(boxes, pair) == 2, (k, boxes.round(), pair.round())


# Two people one behind the other (their true boxes overlap by IoU 0.3-0.6), each 300-450
# px tall, that the whole-frame pass merges into one box.
BEHIND_CROPS = [
    ZoomCrop(505, (505, 230, 755, 418), (768, 576)),
    ZoomCrop(725, (446, 160, 632, 299), (768, 576)),
    ZoomCrop(505, (547, 261, 714, 386), (768, 576)),
]


def test_people_one_behind_the_other_are_found(
    tmp_path: Path,
    pets_gt: dict[int, np.ndarray],
    data_path: Callable[..., Path],
    default_detector: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    video = data_path("pets2009-s2l1", "view001.mp4")
    clip = _clip(BEHIND_CROPS, pets_gt, video, tmp_path / "behind.mp4")
    frames = read_clip(clip.path)
    people = {}
    for k in frames:
        gt = clip.gt[k][~clip.ignore[k]]
        people[k] = gt = gt[gt[:, 3] - gt[:, 1] >= 150]
        overlap = iou_matrix(gt, gt) - np.eye(len(gt))
        assert overlap.max() >= 0.3, (k, gt.round())  # someone is behind someone here

    def found() -> list[int]:
        return [
            count_greedy_matches(default_detector.detect(frame).xyxy, people[k])
            for k, frame in frames.items()
        ]

    with_rule = found()
    monkeypatch.setattr(tiled, "BEHIND_SCORE", 2.0)  # the rule off: one box for the pair
    without = found()
    assert all(a >= b for a, b in zip(with_rule, without, strict=True)), (with_rule, without)
    assert sum(with_rule) > sum(without), (with_rule, without)


@pytest.mark.parametrize(
    ("heights", "trigger", "runs"),
    [
        ([60, 90, 120], 0.3, False),  # far people only: the tiles suffice
        ([60, 180], 0.3, True),  # someone >= 30 % of the 576 px frame
        ([], 0.3, True),  # the tiles found nobody: maybe one person too close for them
        ([60], 0.0, True),  # 0: always
    ],
)
def test_whole_frame_pass_runs_only_where_it_can_add_a_person(
    heights: list[float], trigger: float, runs: bool
) -> None:
    detector = build_person_detector(
        "yolov3-tiny-int8", tiles=(2, 1), full_frame_size=320, full_frame_trigger=trigger
    )
    boxes = np.array([[10.0, 100.0, 40.0, 100.0 + h] for h in heights], np.float32).reshape(-1, 4)
    assert detector._needs_full_pass(boxes, 576) is runs


def test_boxes_over_a_flat_region_are_dropped() -> None:
    from cctrace.vision.tiled import uniform_boxes

    image = np.full((64, 64, 3), 90, np.uint8)
    image[:, 40:] = np.random.default_rng(0).integers(0, 255, (64, 24, 3), dtype=np.uint8)
    boxes = np.array([[0, 0, 30, 60], [38, 0, 64, 60], [0, 0, 64, 64]], np.float32)
    assert uniform_boxes(image, boxes).tolist() == [True, False, False]


def test_a_detector_reports_no_person_on_a_uniform_frame() -> None:
    from cctrace.vision.tiled import TiledPersonDetector

    class Phantom(TiledPersonDetector):
        """A network that sees a confident person filling every input."""

        def _infer(
            self, crops: list[np.ndarray], size: tuple[int, int]
        ) -> list[tuple[np.ndarray, np.ndarray]]:
            whole = [np.array([[0, 0, c.shape[1], c.shape[0]]], np.float32) for c in crops]
            return [(box, np.array([0.88], np.float32)) for box in whole]

    detector = Phantom(input_size=64, tiles=(1, 1))
    assert len(detector.detect(np.full((16, 16, 3), 200, np.uint8))) == 0
    textured = np.random.default_rng(1).integers(0, 255, (16, 16, 3), dtype=np.uint8)
    assert len(detector.detect(textured)) == 1


@pytest.mark.parametrize("tiles", ["lots", [2], [2, "1"], [True, 1]])
def test_tiles_must_be_two_whole_numbers(tiles: Any) -> None:
    from cctrace.vision.tiled import TiledPersonDetector

    with pytest.raises(ValueError, match="tiles must be two whole numbers"):
        TiledPersonDetector(tiles=tiles)
