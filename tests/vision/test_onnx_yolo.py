"""User-supplied YOLO ONNX detectors (``onnx-yolo``): layouts, params, hashes.

The real graphs are built here from the project's own YOLOv3-tiny ONNX (registry
``yolov3-tiny-onnx``) with an Ultralytics-style head appended with the ``onnx`` package:
boxes in input pixels, then either the YOLOv8 layout [B, 84, N] (class scores, no
objectness; static 1x3x416x416 input like an Ultralytics export) or the YOLOv5 layout
[B, N, 85] (objectness and class probabilities; dynamic batch and size). Run without
letterboxing they must give the same boxes as the YOLOv3-tiny detector itself.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cctrace.boxes import count_greedy_matches, iou_matrix
from cctrace.errors import ConfigError, ModelError
from cctrace.vision import build_person_detector
from cctrace.vision.onnx_yolo import OnnxYoloPersonDetector, decode_output
from cctrace.vision.person import YoloV3TinyOnnxPersonDetector

SIZE = 416


def _build_head(out: Path, layout: str) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from cctrace.vision.registry import resolve

    model = onnx.load(str(resolve("yolov3-tiny-onnx")))
    graph = model.graph
    rows = graph.output[0].name  # (N, R, 85): cx, cy, w, h (fractions), obj, obj * p(class)

    def const(name: str, value: Any, dtype: Any = np.int64) -> str:
        graph.initializer.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def node(op: str, inputs: list[str], name: str, **attrs: Any) -> str:
        graph.node.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def cols(lo: int, hi: int, name: str) -> str:
        return node(
            "Slice",
            [rows, const(f"{name}_s", [lo]), const(f"{name}_e", [hi]), const(f"{name}_a", [2])],
            name,
        )

    boxes = node("Mul", [cols(0, 4, "box_frac"), const("size", SIZE, np.float32)], "box_px")
    scores = cols(5, 85, "cls_scores")
    if layout == "yolov8":
        joined = node("Concat", [boxes, scores], "rows84", axis=2)
        final = node("Transpose", [joined], "output0", perm=[0, 2, 1])
        shape: list[Any] = [1, 84, "R"]
        graph.input[0].type.tensor_type.shape.CopyFrom(
            helper.make_tensor_type_proto(TensorProto.FLOAT, [1, 3, SIZE, SIZE]).tensor_type.shape
        )
    else:
        obj = cols(4, 5, "obj")
        safe = node("Max", [obj, const("eps", 1e-6, np.float32)], "obj_safe")
        prob = node("Div", [scores, safe], "cls_prob")
        final = node("Concat", [boxes, obj, prob], "output0", axis=2)
        shape = ["N", "R", 85]
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(final, TensorProto.FLOAT, shape))
    onnx.checker.check_model(model)
    onnx.save(model, str(out))


@pytest.fixture(scope="module")
def heads(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    """layout -> (path, sha256) of real YOLO graphs in the two output layouts."""
    pytest.importorskip("onnx")
    folder = tmp_path_factory.mktemp("onnx-yolo")
    out = {}
    for layout in ("yolov8", "yolov5"):
        path = folder / f"yolov3-tiny-{layout}-head.onnx"
        _build_head(path, layout)
        out[layout] = (path, hashlib.sha256(path.read_bytes()).hexdigest())
    return out


@pytest.mark.parametrize("layout", ["yolov8", "yolov5"])
@pytest.mark.parametrize("tiles", [(1, 1), (2, 1)], ids=["frame", "tiles"])
def test_layouts_give_yolov3_tiny_boxes(
    heads: dict[str, tuple[Path, str]],
    pets_frames: dict[int, np.ndarray],
    layout: str,
    tiles: tuple[int, int],
) -> None:
    path, sha = heads[layout]
    common: dict[str, Any] = {"nms_threshold": 0.6, "tiles": tiles, "tile_full_frame": False}
    ours = build_person_detector(
        "onnx-yolo",
        path=str(path),
        sha256=sha,
        input_size=SIZE,
        letterbox=False,
        layout="auto",
        **common,
    )
    reference = YoloV3TinyOnnxPersonDetector(input_size=SIZE, **common)
    for index in (0, 400, 720):
        a, b = ours.detect(pets_frames[index]), reference.detect(pets_frames[index])
        assert len(a) == len(b) >= 3, (index, len(a), len(b))
        iou = iou_matrix(a.xyxy, b.xyxy)
        assert iou.max(axis=1).min() > 0.98, index
        np.testing.assert_allclose(a.confidence, b.confidence, atol=1e-3)


def test_letterboxed_model_finds_pets_people(
    heads: dict[str, tuple[Path, str]],
    pets_frames: dict[int, np.ndarray],
    pets_gt: dict[int, np.ndarray],
) -> None:
    path, sha = heads["yolov8"]
    detector = OnnxYoloPersonDetector(path=path, sha256=sha, input_size=SIZE)
    tp = n_gt = n_pred = 0
    for index, frame in pets_frames.items():
        boxes = detector.detect(frame).xyxy
        truth = pets_gt.get(index, np.zeros((0, 4), np.float32))
        tp, n_gt, n_pred = (
            tp + count_greedy_matches(boxes, truth),
            n_gt + len(truth),
            n_pred + len(boxes),
        )
    # Letterboxed 416 (people keep their aspect): measured recall 0.893, precision 0.893
    # on these 10 frames (stretched, as the YOLOv3-tiny detector does: 0.80 / 0.87).
    assert tp / n_gt >= 0.85 and tp / max(n_pred, 1) >= 0.85, (tp, n_gt, n_pred)


N = 100  # candidates: real outputs have thousands, more than their columns


def _rows(scores: list[float], objectness: list[float] | None = None, nc: int = 80) -> np.ndarray:
    """[1, N, 4 (+1) + nc] rows whose first class (person) has the given scores, cycled."""
    person = np.resize(np.asarray(scores, np.float32), N)[:, None]
    parts = [np.full((N, 4), 10.0, np.float32)]
    if objectness is not None:
        parts.append(np.resize(np.asarray(objectness, np.float32), N)[:, None])
    parts += [person, np.full((N, nc - 1), 0.05, np.float32)]
    return np.concatenate(parts, axis=1)[None]


@pytest.mark.parametrize(
    ("out", "layout", "num_classes", "person", "expected"),
    [
        # [1, 4+nc, N]: channels first (YOLOv8-v11 exports)
        (_rows([0.9, 0.2]).transpose(0, 2, 1), "auto", None, 0, [0.9, 0.2]),
        (_rows([0.9, 0.2], nc=2).transpose(0, 2, 1), "yolov8", 2, 1, [0.05, 0.05]),
        # [1, N, 4+nc] rows, 80 classes (84 columns)
        (_rows([0.3, 0.6]), "auto", None, 0, [0.3, 0.6]),
        (_rows([0.3, 0.6], nc=3), "yolov8-transposed", None, 0, [0.3, 0.6]),
        # [1, N, 5+nc] YOLOv5: objectness x class probability
        (_rows([0.6], objectness=[0.5, 1.0]), "auto", None, 0, [0.3, 0.6]),
        (_rows([0.8], objectness=[0.5], nc=2), "yolov5", 2, 0, [0.4]),
        (_rows([0.8], objectness=[0.5], nc=2), "auto", 2, 0, [0.4]),
    ],
    ids=["v8-auto", "v8-class1", "rows-auto", "rows-nc3", "v5-auto", "v5-nc2", "v5-auto-nc2"],
)
def test_decode_output_layouts(
    out: np.ndarray, layout: Any, num_classes: int | None, person: int, expected: list[float]
) -> None:
    boxes, scores = decode_output(out, layout, num_classes, person)
    assert boxes.shape == (1, N, 4) and scores.shape == (1, N)
    np.testing.assert_allclose(scores[0], np.resize(expected, N), rtol=1e-6)


@pytest.mark.parametrize(
    ("out", "kwargs", "message"),
    [
        (np.zeros((84, 100)), {}, "3 dimensions"),
        (np.zeros((1, 100, 90)), {}, "cannot tell the YOLO output layout"),
        (np.zeros((1, 100, 84)), {"num_classes": 70}, "cannot tell the YOLO output layout"),
        (np.zeros((1, 84, 100)), {"num_classes": 3}, "params.num_classes says 3"),
        (np.zeros((1, 6, 100)), {"person_class": 5}, "person_class 5 out of range"),
    ],
    ids=["2d", "ambiguous", "rows-class-count", "class-count", "person-class"],
)
def test_decode_output_refuses(out: np.ndarray, kwargs: dict[str, Any], message: str) -> None:
    args = {"num_classes": None, "person_class": 0, **kwargs}
    with pytest.raises(ModelError, match=message):
        decode_output(out, "auto", args["num_classes"], args["person_class"])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"path": "/nonexistent/model.onnx"}, "path: Value error, model file not found"),
        ({"sha256": "abc"}, "sha256: Value error, sha256 must be 64 hex digits"),
        ({"input_size": 400}, "input_size: Input should be a multiple of 32"),
        ({"colour": "red"}, "colour: Extra inputs are not permitted"),
        ({"conf_threshold": 2}, "conf_threshold: Input should be less than or equal to 1"),
        ({"layout": "yolov9000"}, "layout: Input should be"),
        ({"path": None}, "path: Input is not a valid path"),
    ],
    ids=["missing-file", "bad-hash", "size", "unknown-key", "threshold", "layout", "no-path"],
)
def test_bad_params_are_clear_config_errors(
    heads: dict[str, tuple[Path, str]], params: dict[str, Any], message: str
) -> None:
    path, sha = heads["yolov8"]
    full = {"path": str(path), "sha256": sha, "input_size": SIZE, **params}
    with pytest.raises(ConfigError, match=f"person_detector 'onnx-yolo' params: .*{message}"):
        build_person_detector("onnx-yolo", **full)


def test_missing_required_params_are_named() -> None:
    with pytest.raises(ConfigError, match=r"path: Field required.*sha256: Field required"):
        build_person_detector("onnx-yolo")


def test_wrong_sha256_names_file_expected_and_found(
    heads: dict[str, tuple[Path, str]], pets_frames: dict[int, np.ndarray]
) -> None:
    path, sha = heads["yolov8"]
    wrong = "0" * 64
    detector = build_person_detector("onnx-yolo", path=str(path), sha256=wrong, input_size=SIZE)
    with pytest.raises(ModelError) as info:
        detector.detect(pets_frames[0])
    text = str(info.value)
    assert str(path) in text and f"expected {wrong}" in text and f"sha256 {sha}" in text


def test_fixed_input_size_must_match(
    heads: dict[str, tuple[Path, str]], pets_frames: dict[int, np.ndarray]
) -> None:
    path, sha = heads["yolov8"]  # static 1x3x416x416
    detector = OnnxYoloPersonDetector(path=path, sha256=sha, input_size=320)
    with pytest.raises(ModelError, match="takes 416x416 input; params ask for \\[320\\]"):
        detector.detect(pets_frames[0])


def test_site_file_selects_onnx_yolo(heads: dict[str, tuple[Path, str]]) -> None:
    from cctrace.config import ModelsConfig
    from cctrace.ingest.models import ModelSet

    path, sha = heads["yolov5"]
    config = ModelsConfig.model_validate(
        {
            "person_detector": {
                "type": "onnx-yolo",
                "params": {"path": str(path), "sha256": sha, "input_size": SIZE},
            }
        }
    )
    detector = ModelSet(config, threads=1).person_detector
    assert isinstance(detector, OnnxYoloPersonDetector)
    assert detector.params.path == path.resolve() and detector.threads == 1
