"""YOLOv3-tiny person detector on real CCTV footage (PETS2009 S2L1)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from cctrace.boxes import count_greedy_matches
from cctrace.types import Detections
from cctrace.vision.person import YoloV3TinyOnnxPersonDetector, YoloV3TinyPersonDetector

DETECTORS = [YoloV3TinyPersonDetector, YoloV3TinyOnnxPersonDetector]


# Floors sit a few points under what was measured on these 10 frames (frames 0, 80,
# ..., 720): 416 -> recall 0.80 / precision 0.87; tiles 2x1 -> 0.91 / 0.96.
@pytest.mark.parametrize(
    ("params", "min_recall", "min_precision"),
    [
        ({}, 0.74, 0.80),
        ({"tiles": (2, 1), "tile_full_frame": False}, 0.85, 0.90),
    ],
    ids=["416", "tiles-2x1"],
)
def test_recall_precision_on_pets(
    pets_frames: dict[int, np.ndarray],
    pets_gt: dict[int, np.ndarray],
    params: dict[str, Any],
    min_recall: float,
    min_precision: float,
) -> None:
    detector = YoloV3TinyPersonDetector(**params)
    tp = n_pred = n_gt = 0
    for index, frame in pets_frames.items():
        dets = detector.detect(frame)
        gt = pets_gt.get(index, np.zeros((0, 4), np.float32))
        tp += count_greedy_matches(dets.xyxy, gt)
        n_pred += len(dets)
        n_gt += len(gt)
    recall, precision = tp / n_gt, tp / max(n_pred, 1)
    assert recall >= min_recall, f"recall {recall:.3f} (precision {precision:.3f})"
    assert precision >= min_precision, f"precision {precision:.3f} (recall {recall:.3f})"


def test_detections_are_well_formed(pets_frames: dict[int, np.ndarray]) -> None:
    frame = pets_frames[400]
    dets = YoloV3TinyPersonDetector().detect(frame)
    assert isinstance(dets, Detections) and len(dets) >= 3
    assert (dets.class_id == 0).all() and (dets.tracker_id == -1).all()
    assert np.all(np.diff(dets.confidence) <= 0), "sorted by confidence"
    assert (dets.confidence >= 0.25).all() and (dets.confidence <= 1).all()
    h, w = frame.shape[:2]
    assert (dets.xyxy[:, :2] >= 0).all() and (dets.xyxy[:, 2] <= w).all()
    assert (dets.xyxy[:, 3] <= h).all() and (dets.xyxy[:, 2:] > dets.xyxy[:, :2]).all()


def test_blank_image_has_no_people() -> None:
    assert len(YoloV3TinyPersonDetector().detect(np.zeros((480, 640, 3), np.uint8))) == 0


def test_construction_loads_nothing() -> None:
    detector = YoloV3TinyPersonDetector()
    assert detector._net is None


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((0, 0, 3), np.uint8),
        np.zeros((64, 64, 3), np.float32),
        np.zeros((64, 64), np.uint8),
        np.zeros((64, 64, 4), np.uint8),
        [[0, 0, 0]],
    ],
    ids=["empty", "float32", "grey", "bgra", "list"],
)
@pytest.mark.parametrize("detector", DETECTORS)
def test_bad_images_raise(detector: type, image: Any) -> None:
    with pytest.raises(ValueError):
        detector().detect(image)


@pytest.mark.parametrize(
    "params",
    [
        {"input_size": 400},
        {"input_size": 0},
        {"conf_threshold": 1.5},
        {"tiles": (0, 1)},
        {"tile_overlap": 1.0},
    ],
)
@pytest.mark.parametrize("detector", DETECTORS)
def test_bad_parameters_raise(detector: type, params: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        detector(**params)


def test_onnx_detector_refuses_zero_threads() -> None:
    with pytest.raises(ValueError):
        YoloV3TinyOnnxPersonDetector(threads=0)
