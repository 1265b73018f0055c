"""bench/person_detector.py --misses: why a person was missed, on tables of boxes."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np

from cctrace.vision.tiled import TiledPersonDetector

F = np.float32


def _bench() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "bench" / "person_detector.py"
    spec = importlib.util.spec_from_file_location("bench_person_detector", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_miss_reasons_tell_one_box_for_two_from_unseen_and_lost() -> None:
    bench = _bench()
    gt = np.array(
        [
            [100, 100, 200, 500],  # found
            [110, 90, 210, 480],  # one behind the other: its best box went to the first
            [400, 100, 500, 500],  # no pass boxed this one
            [600, 100, 700, 500],  # a pass boxed this one, merging lost it
            [0, 0, 30, 60],  # not wanted (short)
        ],
        F,
    )
    reported = np.array([[102, 98, 202, 498], [560, 40, 780, 540]], F)
    candidates = np.array([[102, 98, 202, 498], [605, 95, 705, 505]], F)
    wanted = np.array([True, True, True, True, False])
    out = bench.miss_reasons(reported, candidates, gt, wanted)
    assert [(j, reason) for j, reason, _ in out] == [
        (1, "one box for two"),
        (2, "no box"),
        (3, "lost in merging"),
    ]
    assert out[0][2] >= 0.5 and out[1][2] == 0.0 and 0.0 < out[2][2] < 0.5
    assert bench.miss_reasons(np.zeros((0, 4), F), np.zeros((0, 4), F), gt, wanted)[0][1] == (
        "no box"
    )


class _Fixed(TiledPersonDetector):
    """Every crop: one box in its top-left corner, the size of a tenth of the crop."""

    keep_full_frame_aspect = True
    sizes: list[tuple[int, int]]

    def _infer(
        self, crops: list[np.ndarray], size: tuple[int, int]
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        self.sizes.append(size)
        return [
            (np.array([[0, 0, c.shape[1] / 10, c.shape[0] / 10]], F), np.array([0.9], F))
            for c in crops
        ]


def test_pass_boxes_are_every_tile_and_whole_frame_box_in_image_pixels() -> None:
    bench = _bench()
    det = _Fixed(
        tiles=(2, 1),
        full_frame_size=320,
        full_frame_fuse_size=416,
        full_frame_trigger=0.9,  # would skip the whole frame: the candidates still have it
    )
    det.sizes = []
    boxes = bench.pass_boxes(det, np.zeros((576, 768, 3), np.uint8))
    # tiles (0..427 and 341..768), then the whole frame at 320x256 and 416x320
    np.testing.assert_allclose(
        boxes,
        [[0, 0, 42.7, 57.6], [341, 0, 383.7, 57.6], [0, 0, 76.8, 57.6], [0, 0, 76.8, 57.6]],
        atol=1e-4,
    )
    assert det.sizes == [(416, 416), (320, 256), (416, 320)]
