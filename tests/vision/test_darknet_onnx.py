"""Darknet -> ONNX conversion of YOLOv3-tiny, checked against cv2.dnn (the reference)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest

from cctrace.boxes import count_greedy_matches
from cctrace.errors import ModelError
from cctrace.vision import registry
from cctrace.vision.darknet_onnx import (
    calibrate_ranges,
    convert_darknet,
    parse_cfg,
    quantize_darknet,
    read_weights,
)
from cctrace.vision.person import (
    YOLO_SCORE_FLOOR,
    YoloV3TinyInt8PersonDetector,
    YoloV3TinyOnnxPersonDetector,
    YoloV3TinyPersonDetector,
)
from cctrace.vision.registry import resolve


def _cv2_rows(cfg: Path, weights: Path, blob: np.ndarray) -> np.ndarray:
    net = cv2.dnn.readNetFromDarknet(str(cfg), str(weights))
    net.setInput(blob)
    outs = net.forward(net.getUnconnectedOutLayersNames())
    return np.concatenate([o.reshape(-1, o.shape[-1]) for o in outs])


def _onnx_rows(model: Path, blob: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {"input": blob})[0])


def _assert_rows_match(ref: np.ndarray, got: np.ndarray, atol: float = 1e-4) -> None:
    """Boxes (relative error above 1) and objectness match; class scores match once
    cv2.dnn's <= 0.2 zeroing is applied (scores within atol of 0.2 may go either way)."""
    assert ref.shape == got.shape
    box_error = np.abs(ref[:, :5] - got[:, :5]) / np.maximum(1.0, np.abs(ref[:, :5]))
    assert box_error.max() < atol
    scores = np.where(got[:, 5:] > YOLO_SCORE_FLOOR, got[:, 5:], 0.0)
    near_floor = np.abs(got[:, 5:] - YOLO_SCORE_FLOOR) < atol
    assert np.abs(ref[:, 5:] - scores)[~near_floor].max() < atol


def test_conversion_is_deterministic(tmp_path: Path) -> None:
    cfg, weights = resolve("yolov3-tiny-cfg"), resolve("yolov3-tiny-weights")
    first, second = tmp_path / "a.onnx", tmp_path / "b.onnx"
    convert_darknet(cfg, weights, first)
    convert_darknet(cfg, weights, second)
    assert first.read_bytes() == second.read_bytes()
    assert registry.sha256_file(first) == registry.sha256_file(resolve("yolov3-tiny-onnx"))


def test_weights_header_and_cfg_are_read() -> None:
    (major, minor, _revision, seen), values = read_weights(resolve("yolov3-tiny-weights"))
    assert (major, minor) == (0, 2) and seen > 0
    assert values.dtype == np.float32 and len(values) == 8_858_734
    sections = parse_cfg(resolve("yolov3-tiny-cfg"))
    assert [s.type for s in sections].count("yolo") == 2
    assert sections[0].type == "net" and sections[0].get_int("width") == 416


@pytest.mark.parametrize("size", [416, 320, 608])
def test_onnx_matches_cv2_dnn_on_pets(pets_frames: dict[int, np.ndarray], size: int) -> None:
    blob = cv2.dnn.blobFromImage(pets_frames[400], 1 / 255.0, (size, size), swapRB=True)
    ref = _cv2_rows(resolve("yolov3-tiny-cfg"), resolve("yolov3-tiny-weights"), blob)
    got = _onnx_rows(resolve("yolov3-tiny-onnx"), blob)
    assert got.shape == (1, ((size // 32) ** 2 + (size // 16) ** 2) * 3, 85)
    _assert_rows_match(ref, got[0])
    assert (ref[:, 5] > 0.5).sum() >= 3, "the frame has people, so the check is not vacuous"


def test_fixed_input_size_and_batches(tmp_path: Path) -> None:
    out = tmp_path / "fixed.onnx"
    convert_darknet(resolve("yolov3-tiny-cfg"), resolve("yolov3-tiny-weights"), out, input_size=320)
    blob = np.random.RandomState(0).uniform(0, 1, (2, 3, 320, 320)).astype(np.float32)
    got = _onnx_rows(out, blob)
    assert got.shape == (2, 1500, 85)
    dynamic = _onnx_rows(resolve("yolov3-tiny-onnx"), blob)
    assert np.abs(got - dynamic).max() < 1e-5
    single = _onnx_rows(out, blob[1:])
    assert np.abs(got[1] - single[0]).max() < 1e-5


# A small net with every layer kind, including the size=2 stride=1 maxpool (Darknet pads
# it right/bottom only), a conv without batch norm and a route of two layers.
SMALL_CFG = """[net]
width=64
height=64
channels=3

[convolutional]
batch_normalize=1
filters=8
size=3
stride=1
pad=1
activation=leaky

[maxpool]
size=2
stride=2

[convolutional]
filters=16
size=3
stride=2
pad=1
activation=leaky

[maxpool]
size=2
stride=1

[convolutional]
batch_normalize=1
filters=21
size=1
stride=1
pad=1
activation=linear

[yolo]
mask = 0,1,2
anchors = 10,14, 23,27, 37,58
classes=2
num=3

[route]
layers = -3

[upsample]
stride=2

[route]
layers = -1, 1

[convolutional]
size=1
stride=1
pad=1
filters=21
activation=linear

[yolo]
mask = 0,1,2
anchors = 10,14, 23,27, 37,58
classes=2
num=3
"""


def _small_weights(path: Path, header: bytes) -> None:
    """Random weights for SMALL_CFG, in Darknet order, rolling variances positive."""
    rng = np.random.RandomState(1)

    def bn(n: int) -> list[np.ndarray]:  # beta, gamma, mean, variance
        return [rng.normal(0, 0.2, 3 * n), rng.uniform(0.5, 2.0, n)]

    chunks = [
        *bn(8),
        rng.normal(0, 0.2, 8 * 3 * 9),  # bn conv 3 -> 8, 3x3
        rng.normal(0, 0.2, 16),
        rng.normal(0, 0.2, 16 * 8 * 9),  # conv 8 -> 16 with bias
        *bn(21),
        rng.normal(0, 0.2, 21 * 16),  # bn conv 16 -> 21, 1x1
        rng.normal(0, 0.2, 21),
        rng.normal(0, 0.2, 21 * (16 + 8)),  # conv 24 -> 21 with bias
    ]
    path.write_bytes(header + np.concatenate(chunks).astype("<f4").tobytes())


@pytest.mark.parametrize(
    "header",
    [
        np.array([0, 2, 0], "<i4").tobytes() + np.array([123], "<i8").tobytes(),
        np.array([0, 1, 0, 123], "<i4").tobytes(),
    ],
    ids=["seen-int64", "seen-int32"],
)
def test_small_net_matches_cv2_dnn(tmp_path: Path, header: bytes) -> None:
    cfg, weights, out = tmp_path / "s.cfg", tmp_path / "s.weights", tmp_path / "s.onnx"
    cfg.write_text(SMALL_CFG)
    _small_weights(weights, header)
    convert_darknet(cfg, weights, out)
    blob = np.random.RandomState(2).uniform(0, 1, (1, 3, 64, 64)).astype(np.float32)
    ref = _cv2_rows(cfg, weights, blob)
    got = _onnx_rows(out, blob)
    assert got.shape == (1, (16 * 16 + 32 * 32) * 3, 7)  # strides 4 and 2
    _assert_rows_match(ref, got[0])


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c, w: w.write_bytes(w.read_bytes()[:-40]), "weights end"),
        (lambda c, w: w.write_bytes(w.read_bytes() + b"\0" * 8), "left over"),
        (lambda c, w: c.write_text(c.read_text().replace("[maxpool]", "[avgpool]", 1)), "avgpool"),
        (lambda c, w: c.write_text(c.read_text().replace("leaky", "mish", 1)), "mish"),
        (lambda c, w: c.write_text(c.read_text().replace("[net]", "[maxpool]", 1)), r"\[net\]"),
        (lambda c, w: c.write_text(c.read_text().replace("layers = -3", "layers = 9")), "refers"),
        (lambda c, w: w.write_bytes(b"\0" * 8), "too short"),
    ],
    ids=["truncated", "extra", "section", "activation", "no-net", "route", "short"],
)
def test_bad_inputs_raise_model_error(tmp_path: Path, edit: Any, message: str) -> None:
    cfg, weights = tmp_path / "s.cfg", tmp_path / "s.weights"
    cfg.write_text(SMALL_CFG)
    _small_weights(weights, np.array([0, 2, 0, 0, 0], "<i4").tobytes())
    edit(cfg, weights)
    with pytest.raises(ModelError, match=message):
        convert_darknet(cfg, weights, tmp_path / "s.onnx")


def test_small_net_int8_follows_float(tmp_path: Path) -> None:
    cfg, weights = tmp_path / "s.cfg", tmp_path / "s.weights"
    cfg.write_text(SMALL_CFG)
    _small_weights(weights, np.array([0, 2, 0, 0, 0], "<i4").tobytes())
    rng = np.random.RandomState(3)
    blobs = [
        np.round(rng.uniform(0, 255, (1, 3, 64, 64))).astype(np.float32) / 255 for _ in range(4)
    ]
    ranges = calibrate_ranges(cfg, weights, blobs)
    assert set(ranges) == {
        "l000_convolutional.conv",
        "l000_convolutional.out",
        "l002_convolutional.conv",
        "l002_convolutional.out",
        "l008_route.out",
    }, "heads (l004, l009) stay float; pools, upsample and one-layer routes reuse ranges"
    assert all(lo <= hi for lo, hi in ranges.values())
    convert_darknet(cfg, weights, tmp_path / "f.onnx")
    quantize_darknet(cfg, weights, tmp_path / "q.onnx", ranges)
    ref, got = _onnx_rows(tmp_path / "f.onnx", blobs[0]), _onnx_rows(tmp_path / "q.onnx", blobs[0])
    graph = onnx.load(str(tmp_path / "q.onnx")).graph
    int8_weights = {
        i.name for i in graph.initializer if i.data_type == onnx.TensorProto.INT8 and i.dims
    }
    convs = [n for n in graph.node if n.op_type == "Conv"]
    producer = {o: n for n in graph.node for o in n.output}
    quantised = [
        n.name
        for n in convs
        if n.input[1] in producer  # a float weight is an initialiser
        and producer[n.input[1]].op_type == "DequantizeLinear"
        and producer[n.input[1]].input[0] in int8_weights
    ]
    assert sorted(q.split("__")[0] for q in quantised) == [
        "l000_convolutional",
        "l002_convolutional",
    ], "the backbone's convolutions are int8, the two heads (l004, l009) stay float"
    assert len(convs) == 4
    assert np.abs(ref[..., :2] - got[..., :2]).max() < 0.02  # centres, fractions of the input
    assert np.abs(ref[..., 4:] - got[..., 4:]).max() < 0.05  # objectness and scores
    quantize_darknet(cfg, weights, tmp_path / "q2.onnx", ranges)
    assert (tmp_path / "q2.onnx").read_bytes() == (tmp_path / "q.onnx").read_bytes()
    with pytest.raises(ModelError, match="no int8 range"):
        del ranges["l008_route.out"]
        quantize_darknet(cfg, weights, tmp_path / "x.onnx", ranges)


def test_bad_input_size_raises(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="multiple of 32"):
        convert_darknet(
            resolve("yolov3-tiny-cfg"),
            resolve("yolov3-tiny-weights"),
            tmp_path / "x",
            input_size=400,
        )


# Same floors as test_person.py: the ONNX detector gives cv2.dnn's detections.
@pytest.mark.parametrize(
    ("params", "min_recall", "min_precision"),
    [
        ({}, 0.74, 0.80),
        ({"input_size": 320}, 0.68, 0.80),
        ({"tiles": (2, 1), "tile_full_frame": False}, 0.85, 0.90),
    ],
    ids=["416", "320", "tiles-2x1"],
)
def test_onnx_detector_recall_precision_on_pets(
    pets_frames: dict[int, np.ndarray],
    pets_gt: dict[int, np.ndarray],
    params: dict[str, Any],
    min_recall: float,
    min_precision: float,
) -> None:
    detector = YoloV3TinyOnnxPersonDetector(threads=1, **params)
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


@pytest.mark.parametrize("params", [{}, {"tiles": (2, 1)}], ids=["whole", "tiles"])
def test_onnx_detector_agrees_with_cv2_detector(
    pets_frames: dict[int, np.ndarray], params: dict[str, Any]
) -> None:
    onnx_det = YoloV3TinyOnnxPersonDetector(**params)
    cv2_det = YoloV3TinyPersonDetector(**params)
    for index in (0, 400, 720):
        a, b = onnx_det.detect(pets_frames[index]), cv2_det.detect(pets_frames[index])
        assert len(a) == len(b) >= 1
        assert np.abs(a.xyxy - b.xyxy).max() < 0.05
        assert np.abs(a.confidence - b.confidence).max() < 1e-4


def test_int8_detector_recall_precision_on_pets(
    pets_frames: dict[int, np.ndarray], pets_gt: dict[int, np.ndarray]
) -> None:
    # Measured on these 10 frames: 0.786 / 0.863 (float 0.804 / 0.865; on all 795 frames
    # 0.784 / 0.872 against 0.787 / 0.873).
    detector = YoloV3TinyInt8PersonDetector(threads=1)
    tp = n_pred = n_gt = 0
    for index, frame in pets_frames.items():
        dets = detector.detect(frame)
        gt = pets_gt.get(index, np.zeros((0, 4), np.float32))
        tp += count_greedy_matches(dets.xyxy, gt)
        n_pred += len(dets)
        n_gt += len(gt)
    recall, precision = tp / n_gt, tp / max(n_pred, 1)
    assert recall >= 0.74, f"recall {recall:.3f} (precision {precision:.3f})"
    assert precision >= 0.80, f"precision {precision:.3f} (recall {recall:.3f})"


def test_int8_detections_follow_float(pets_frames: dict[int, np.ndarray]) -> None:
    float_det, int8_det = YoloV3TinyOnnxPersonDetector(), YoloV3TinyInt8PersonDetector()
    for index in (0, 400, 720):
        a = float_det.detect(pets_frames[index])
        b = int8_det.detect(pets_frames[index])
        confident = a.xyxy[a.confidence > 0.5]
        assert len(confident) >= 1
        assert count_greedy_matches(confident, b.xyxy, threshold=0.8) == len(confident)


def test_onnx_detector_blank_image_and_lazy_load() -> None:
    detector = YoloV3TinyOnnxPersonDetector()
    assert detector._session is None
    assert len(detector.detect(np.zeros((480, 640, 3), np.uint8))) == 0
    assert detector._session is not None


def test_factory_builds_onnx_detector() -> None:
    from cctrace.vision import PERSON_DETECTORS, build_person_detector

    assert "yolov3-tiny-onnx" in PERSON_DETECTORS
    detector = build_person_detector("yolov3-tiny-onnx", input_size=320, threads=2)
    assert isinstance(detector, YoloV3TinyOnnxPersonDetector)
    assert detector.input_size == 320 and detector.threads == 2
    assert isinstance(build_person_detector("yolov3-tiny-int8"), YoloV3TinyInt8PersonDetector)
