"""Convert a Darknet YOLOv3(-tiny) cfg + ``.weights`` to ONNX without Darknet or torch.

Reads the cfg text and the flat float32 weights file with numpy and emits an ONNX graph
(opset 17) with :mod:`onnx.helper`. Supported sections: ``[net]``, ``[convolutional]``
(``batch_normalize`` folded into the conv weights and bias; ``leaky`` (0.1), ``linear``,
``relu``, ``logistic`` activations), ``[maxpool]`` (Darknet padding: ``padding`` defaults
to ``size - 1``, of which ``padding // 2`` goes left/top and the rest right/bottom, so the
``size=2 stride=1`` pool of yolov3-tiny keeps its size), ``[route]`` (concat, no
``groups``), ``[shortcut]`` (linear), ``[upsample]`` (nearest) and ``[yolo]``. Anything
else raises :class:`~cctrace.errors.ModelError`.

The model takes ``input``: (N, 3, H, W) float32 RGB in [0, 1] (what
``cv2.dnn.blobFromImage(img, 1/255, size, swapRB=True)`` makes), H and W multiples of 32,
fixed at conversion or dynamic. The ``[yolo]`` heads are decoded in the graph into
``detections``: (N, R, 5 + classes), the rows cv2.dnn's Darknet importer returns, in the
same order (per head, then cell row, cell column, anchor):

    cx, cy, w, h (fractions of the input), objectness, objectness * class probability...

with ``cx = (col + sigmoid(tx)) / W``, ``w = exp(tw) * anchor_w / input_w``. Unlike cv2.dnn,
class scores of 0.2 or less are not zeroed (the detectors drop them). On a PETS frame the
rows match cv2.dnn's to ~5e-5 at 320, 416 and 608 px (``tests/vision/test_darknet_onnx.py``).

int8: :func:`calibrate_ranges` measures every activation's range over sample images and
:func:`quantize_darknet` quantises the backbone of the converted model with onnxruntime's
``quantize_static`` (QDQ form: per-channel symmetric int8 weights, int32 biases, uint8
activations with those ranges; max pooling and upsampling keep their input's
quantisation), which onnxruntime runs as QLinearConv / QLinearLeakyRelu / QLinearConcat.
The two head convolutions and the decoding stay float. Until 2026-12 the QDQ nodes were
emitted here by hand; ``quantize_static`` with the same ranges gives the same detections
on PETS S2L1 (``python bench/int8_compare.py``; README, Person detection), so that code
is gone.

Darknet weights file: int32 major, minor, revision, then ``seen`` as int64 when
``major * 10 + minor >= 2`` and ``major < 1000`` (else int32), then per convolution either
[beta, gamma, rolling mean, rolling variance] (with batch norm) or [bias], each
``filters`` long, followed by the (filters, channels / groups, size, size) kernel.
"""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cctrace.errors import ModelError
from cctrace.vision.onnx_graph import GraphBuilder

OPSET = 17
BN_EPSILON = 1e-6
"""cv2.dnn's Darknet importer folds batch norm as gamma / sqrt(var + 1e-6) (max abs diff ~5e-6)."""
LEAKY_SLOPE = 0.1

Ranges = Mapping[str, tuple[float, float]]
"""Activation (min, max) by calibration key, e.g. ``"l000_convolutional.out"``."""


@dataclass
class Section:
    """One ``[type]`` block of a Darknet cfg: its type and ``key = value`` options."""

    type: str
    options: dict[str, str] = field(default_factory=dict)
    line: int = 0

    def get_int(self, key: str, default: int | None = None) -> int:
        value = self.options.get(key)
        if value is None:
            if default is None:
                raise ModelError(f"darknet cfg line {self.line}: [{self.type}] needs {key!r}")
            return default
        try:
            return int(value)
        except ValueError as exc:
            raise ModelError(f"darknet cfg line {self.line}: {key} = {value!r}") from exc

    def get_float(self, key: str, default: float) -> float:
        value = self.options.get(key)
        try:
            return default if value is None else float(value)
        except ValueError as exc:
            raise ModelError(f"darknet cfg line {self.line}: {key} = {value!r}") from exc

    def get_ints(self, key: str) -> list[int]:
        value = self.options.get(key)
        if value is None:
            raise ModelError(f"darknet cfg line {self.line}: [{self.type}] needs {key!r}")
        try:
            return [int(float(v)) for v in value.split(",") if v.strip()]
        except ValueError as exc:
            raise ModelError(f"darknet cfg line {self.line}: {key} = {value!r}") from exc


def parse_cfg(path: Path) -> list[Section]:
    """The cfg's sections in order (comments and blank lines dropped)."""
    sections: list[Section] = []
    for number, raw in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].split(";", 1)[0].strip()
        if not line:
            continue
        header = re.fullmatch(r"\[([A-Za-z_]+)\]", line)
        if header:
            sections.append(Section(header.group(1).lower(), {}, number))
            continue
        if "=" not in line or not sections:
            raise ModelError(f"{path}:{number}: cannot parse {raw!r}")
        key, value = line.split("=", 1)
        sections[-1].options[key.strip()] = value.strip()
    if not sections or sections[0].type not in ("net", "network"):
        raise ModelError(f"{path}: a Darknet cfg starts with [net]")
    return sections


def read_weights(path: Path) -> tuple[tuple[int, int, int, int], np.ndarray]:
    """((major, minor, revision, seen), float32 parameters) of a Darknet ``.weights`` file."""
    data = Path(path).read_bytes()
    if len(data) < 16:
        raise ModelError(f"{path}: too short for a Darknet weights file")
    major, minor, revision = (int(v) for v in np.frombuffer(data, "<i4", 3))
    if major * 10 + minor >= 2 and major < 1000 and minor < 1000:
        seen, offset = int(np.frombuffer(data, "<i8", 1, 12)[0]), 20
    else:
        seen, offset = int(np.frombuffer(data, "<i4", 1, 12)[0]), 16
    if (len(data) - offset) % 4:
        raise ModelError(f"{path}: size {len(data)} is not a whole number of float32s")
    return (major, minor, revision, seen), np.frombuffer(data, "<f4", offset=offset).copy()


class _WeightReader:
    def __init__(self, values: np.ndarray, path: Path) -> None:
        self.values = values
        self.path = path
        self.offset = 0

    def take(self, count: int) -> np.ndarray:
        end = self.offset + count
        if end > len(self.values):
            raise ModelError(
                f"{self.path}: weights end after {len(self.values)} values, the cfg needs more "
                "(cfg and weights do not match)"
            )
        out = self.values[self.offset : end]
        self.offset = end
        return out


class _Converter:
    def __init__(self, sections: list[Section], weights: _WeightReader) -> None:
        self.net = sections[0]
        self.layers = sections[1:]
        self.weights = weights
        self.g = GraphBuilder("darknet")
        self.outputs: list[str] = []  # per layer
        self.channels: list[int] = []  # per layer
        self.heads: list[str] = []
        self.row_width = 0
        self.input_hw = ""
        self.doc = ""
        self.taps: dict[str, str] = {}  # range key -> tensor (calibration, quantisation)
        self.backbone_nodes: list[str] = []  # nodes an int8 model quantises

    # -- helpers -----------------------------------------------------------------
    def _i64(self, base: str, values: list[int]) -> str:
        return self.g.const(base, np.array(values, np.int64))

    def _f32(self, base: str, values: np.ndarray | list[float] | float) -> str:
        return self.g.const(base, np.asarray(values, np.float32))

    def _tap(self, x: str, key: str) -> str:
        """A calibration point: the activation ``x`` gets its own int8 range under ``key``."""
        self.taps[key] = x
        return x

    def _ref(self, index: int, at: int) -> int:
        absolute = at + index if index < 0 else index
        if not 0 <= absolute < at:
            raise ModelError(f"darknet->onnx: layer {at} refers to missing layer {index}")
        return absolute

    def _activation(self, x: str, name: str, base: str) -> str:
        if name == "linear":
            return x
        if name == "leaky":
            return self.g.op("LeakyRelu", [x], base, alpha=LEAKY_SLOPE)
        if name == "relu":
            return self.g.op("Relu", [x], base)
        if name == "logistic":
            return self.g.op("Sigmoid", [x], base)
        raise ModelError(f"darknet->onnx: unsupported activation {name!r} in {base}")

    # -- layers ------------------------------------------------------------------
    def _convolutional(
        self, s: Section, x: str, cin: int, base: str, *, head: bool
    ) -> tuple[str, int]:
        filters = s.get_int("filters")
        size = s.get_int("size", 1)
        stride = s.get_int("stride", 1)
        groups = s.get_int("groups", 1)
        if s.get_int("dilation", 1) != 1 or s.get_int("stride_x", stride) != stride:
            raise ModelError(f"darknet->onnx: {base}: dilation / stride_x unsupported")
        if cin % groups or filters % groups:
            raise ModelError(f"darknet->onnx: {base}: {cin} channels, {groups} groups")
        pad = size // 2 if s.get_int("pad", 0) else s.get_int("padding", 0)
        if s.get_int("batch_normalize", 0):
            beta, gamma, mean, var = (self.weights.take(filters) for _ in range(4))
        else:
            bias = self.weights.take(filters)
        kernel = self.weights.take(filters * (cin // groups) * size * size)
        kernel = kernel.reshape(filters, cin // groups, size, size).astype(np.float64)
        if s.get_int("batch_normalize", 0):
            scale = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + BN_EPSILON)
            kernel = kernel * scale[:, None, None, None]
            bias = beta - mean.astype(np.float64) * scale
        activation = s.options.get("activation", "logistic")
        y = self.g.conv(
            x,
            kernel.astype(np.float32),
            np.asarray(bias, np.float32),
            base=base,
            strides=(stride, stride),
            pads=(pad, pad, pad, pad),
            group=groups,
        )
        if head:
            return self._activation(y, activation, base + "_act"), filters
        if activation != "linear":
            y = self._activation(self._tap(y, base + ".conv"), activation, base + "_act")
        return self._tap(y, base + ".out"), filters

    def _maxpool(self, s: Section, x: str, base: str) -> str:
        size = s.get_int("size", s.get_int("stride", 1))
        stride = s.get_int("stride", 1)
        padding = s.get_int("padding", size - 1)
        if s.get_int("stride_x", stride) != stride or s.get_int("maxpool_depth", 0):
            raise ModelError(f"darknet->onnx: {base}: stride_x / maxpool_depth unsupported")
        lo, hi = padding // 2, padding - padding // 2
        y = self.g.op(
            "MaxPool",
            [x],
            base,
            kernel_shape=[size, size],
            strides=[stride, stride],
            pads=[lo, lo, hi, hi],
        )
        return y

    def _route(self, s: Section, at: int, base: str) -> tuple[str, int]:
        if s.get_int("groups", 1) != 1:
            raise ModelError(f"darknet->onnx: {base}: route groups unsupported")
        refs = [self._ref(i, at) for i in s.get_ints("layers")]
        if not refs:
            raise ModelError(f"darknet->onnx: {base}: route without layers")
        channels = sum(self.channels[r] for r in refs)
        if len(refs) == 1:
            return self.outputs[refs[0]], channels
        y = self.g.op("Concat", [self.outputs[r] for r in refs], base, axis=1)
        return self._tap(y, base + ".out"), channels

    def _shortcut(self, s: Section, x: str, at: int, base: str) -> str:
        ref = self._ref(s.get_int("from"), at)
        if self.channels[ref] != self.channels[at - 1]:
            raise ModelError(f"darknet->onnx: {base}: shortcut between different widths")
        y = self.g.op("Add", [x, self.outputs[ref]], base)
        activation = s.options.get("activation", "linear")
        if activation != "linear":
            y = self._activation(self._tap(y, base + ".add"), activation, base + "_act")
        return self._tap(y, base + ".out")

    def _upsample(self, s: Section, x: str, base: str) -> str:
        stride = s.get_int("stride", 2)
        if stride < 1:
            raise ModelError(f"darknet->onnx: {base}: downsampling upsample unsupported")
        scales = self._f32(base + "_scales", [1.0, 1.0, float(stride), float(stride)])
        y = self.g.op(
            "Resize",
            [x, "", scales],
            base,
            mode="nearest",
            coordinate_transformation_mode="asymmetric",
            nearest_mode="floor",
        )
        scale = s.get_float("scale", 1.0)
        if scale != 1.0:
            y = self.g.op("Mul", [y, self._f32(base + "_k", scale)], base)
            return self._tap(y, base + ".out")
        return y

    def _yolo(self, s: Section, x: str, cin: int, base: str) -> None:
        """Decode one head to (N, H*W*A, 5 + classes) rows, cv2.dnn's layout."""
        classes = s.get_int("classes", 20)
        anchors = np.asarray(s.get_ints("anchors"), np.float32).reshape(-1, 2)
        mask = s.get_ints("mask") if "mask" in s.options else list(range(len(anchors)))
        if any(not 0 <= m < len(anchors) for m in mask):
            raise ModelError(f"darknet->onnx: {base}: mask {mask} outside {len(anchors)} anchors")
        if s.get_int("new_coords", 0):
            raise ModelError(f"darknet->onnx: {base}: new_coords unsupported")
        a, d = len(mask), 5 + classes
        if self.row_width and d != self.row_width:
            raise ModelError(f"darknet->onnx: {base}: heads with different class counts")
        self.row_width = d
        if cin != a * d:
            raise ModelError(f"darknet->onnx: {base}: {cin} channels, expected {a} x {d}")
        g = self.g
        # (N, A*D, H, W) -> (N, H*W, A, D): rows ordered by cell row, column, anchor.
        t = g.op("Reshape", [x, self._i64(base + "_s1", [0, a, d, -1])], base + "_r")
        t = g.op("Transpose", [t], base + "_t", perm=[0, 3, 1, 2])

        def part(lo: int, hi: int, name: str) -> str:
            starts, ends = self._i64(name + "_lo", [lo]), self._i64(name + "_hi", [hi])
            return g.op("Slice", [t, starts, ends, self._i64(name + "_ax", [3])], name)

        # Grid of (col, row) per cell, (H*W, 1, 2), from the head's runtime shape.
        shape = g.op("Shape", [x], base + "_shape")
        h = g.op("Gather", [shape, self._i64(base + "_i2", [2])], base + "_h", axis=0)
        w = g.op("Gather", [shape, self._i64(base + "_i3", [3])], base + "_w", axis=0)
        hw = g.op("Mul", [h, w], base + "_hw")
        zero, one = self._i64(base + "_0", [0]), self._i64(base + "_1", [1])
        squeeze_ax = self._i64(base + "_ax0", [0])
        cells = g.op(
            "Range",
            [
                g.op("Squeeze", [zero, squeeze_ax], base + "_start"),
                g.op("Squeeze", [hw, squeeze_ax], base + "_limit"),
                g.op("Squeeze", [one, squeeze_ax], base + "_delta"),
            ],
            base + "_cells",
        )
        col = g.op("Mod", [cells, w], base + "_col")
        row = g.op("Div", [cells, w], base + "_row")
        grid = g.op(
            "Concat",
            [
                g.op("Unsqueeze", [col, one], base + "_colu"),
                g.op("Unsqueeze", [row, one], base + "_rowu"),
            ],
            base + "_grid",
            axis=1,
        )
        grid = g.op("Cast", [grid], base + "_gridf", to=1)  # FLOAT
        grid = g.op("Unsqueeze", [grid, one], base + "_grid3")
        cells_wh = g.op("Cast", [g.op("Concat", [w, h], base + "_wh", axis=0)], base + "_whf", to=1)

        scale_xy = s.get_float("scale_x_y", 1.0)
        xy = g.op("Sigmoid", [part(0, 2, base + "_txy")], base + "_sxy")
        if scale_xy != 1.0:
            xy = g.op("Mul", [xy, self._f32(base + "_sc", scale_xy)], base + "_sxy2")
            xy = g.op("Sub", [xy, self._f32(base + "_off", (scale_xy - 1) / 2)], base + "_sxy3")
        xy = g.op("Div", [g.op("Add", [xy, grid], base + "_gxy"), cells_wh], base + "_xy")
        wh = g.op("Exp", [part(2, 4, base + "_twh")], base + "_ewh")
        wh = g.op("Mul", [wh, self._f32(base + "_anchors", anchors[mask])], base + "_pwh")
        wh = g.op("Div", [wh, self.input_hw], base + "_whn")
        obj = g.op("Sigmoid", [part(4, 5, base + "_tobj")], base + "_obj")
        cls = g.op("Sigmoid", [part(5, d, base + "_tcls")], base + "_cls")
        cls = g.op("Mul", [cls, obj], base + "_score")
        rows = g.op("Concat", [xy, wh, obj, cls], base + "_cat", axis=3)
        self.heads.append(g.op("Reshape", [rows, self._i64(base + "_s2", [0, -1, d])], base))

    # -- driver ------------------------------------------------------------------
    def run(self, out: Path, input_size: int | None, doc: str) -> None:
        self.doc = doc
        channels = self.net.get_int("channels", 3)
        if channels != 3:
            raise ModelError(f"darknet->onnx: {channels}-channel input unsupported")
        shape = self.g.op("Shape", ["input"], "input_shape")
        in_wh = self.g.op("Gather", [shape, self._i64("wh_idx", [3, 2])], "input_wh", axis=0)
        self.input_hw = self.g.op("Cast", [in_wh], "input_whf", to=1)
        x, cin = "input", channels
        kinds = [s.type for s in self.layers]
        for at, s in enumerate(self.layers):
            base = f"l{at:03d}_{s.type}"
            first_node = len(self.g.nodes)
            head = at + 1 < len(kinds) and kinds[at + 1] == "yolo"
            if s.type in ("convolutional", "conv"):
                x, cin = self._convolutional(s, x, cin, base, head=head)
            elif s.type in ("maxpool", "max"):
                x = self._maxpool(s, x, base)
            elif s.type == "route":
                x, cin = self._route(s, at, base)
            elif s.type == "shortcut":
                x = self._shortcut(s, x, at, base)
            elif s.type == "upsample":
                x = self._upsample(s, x, base)
            elif s.type == "yolo":
                self._yolo(s, x, cin, base)
            else:
                raise ModelError(f"darknet->onnx: unsupported section [{s.type}] (layer {at})")
            if not head and s.type != "yolo":  # heads and decoding stay float in int8
                self.backbone_nodes += [n.name for n in self.g.nodes[first_node:]]
            self.outputs.append(x)
            self.channels.append(cin)
        left = len(self.weights.values) - self.weights.offset
        if left:
            raise ModelError(
                f"{self.weights.path}: {left} weights left over after the last layer "
                "(cfg and weights do not match)"
            )
        if not self.heads:
            raise ModelError("darknet->onnx: the cfg has no [yolo] layer")
        if len(self.heads) == 1:
            self.g.op("Identity", self.heads, "detections", output="detections")
        else:
            self.g.op("Concat", self.heads, "detections", output="detections", axis=1)
        side: list[int | str] = [input_size, input_size] if input_size else ["H", "W"]
        self.g.save(
            out,
            input_name="input",
            input_shape=["N", 3, *side],
            output_name="detections",
            output_shape=["N", "R", self.row_width],
            doc=doc,
            opset=OPSET,
        )


def _convert(cfg_path: Path, weights_path: Path, out: Path, input_size: int | None) -> _Converter:
    if input_size is not None and (input_size <= 0 or input_size % 32):
        raise ValueError(f"input_size must be a positive multiple of 32, got {input_size}")
    sections = parse_cfg(cfg_path)
    header, values = read_weights(weights_path)
    converter = _Converter(sections, _WeightReader(values, Path(weights_path)))
    doc = (
        f"converted from {Path(cfg_path).name} + {Path(weights_path).name} "
        f"(darknet {header[0]}.{header[1]}.{header[2]}) by cctrace.vision.darknet_onnx"
    )
    converter.run(out, input_size, doc)
    return converter


def convert_darknet(
    cfg_path: Path, weights_path: Path, out: Path, *, input_size: int | None = None
) -> None:
    """Write an ONNX equivalent of a Darknet YOLO cfg + weights to ``out``.

    ``input_size`` fixes the input to (N, 3, S, S) (a multiple of 32); None leaves H and W
    dynamic. The output is deterministic: the same inputs give the same bytes.
    """
    _convert(cfg_path, weights_path, out, input_size)


QUANTISED_OPS = frozenset({"Conv", "LeakyRelu", "MaxPool", "Concat", "Resize"})
"""Backbone operators the int8 model runs in integer form (the rest stay float)."""
SHARED_RANGE_OPS = frozenset({"MaxPool", "Resize"})
"""Their output keeps their input's quantisation (no range of its own)."""


class _OneBlob:
    """A calibration reader (onnxruntime's ``CalibrationDataReader`` protocol) of one grey
    blob: every range comes from the overrides, so what onnxruntime's own calibration
    measures on it is never used."""

    def __init__(self) -> None:
        self._done = False

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._done:
            return None
        self._done = True
        return {"input": np.full((1, 3, 64, 64), 0.5, np.float32)}

    def __len__(self) -> int:
        return 1

    def set_range(self, start_index: int, end_index: int) -> None:
        """Part of onnxruntime's reader protocol; one blob has no ranges to pick from."""


class _NoPreprocessHint(logging.Filter):
    """Drops quantize_static's root-logger advice to run its shape pre-processing (the
    converter's graph needs none: every quantised tensor's range is given)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing" not in record.getMessage()


def quantize_darknet(cfg_path: Path, weights_path: Path, out: Path, ranges: Ranges) -> None:
    """Write the int8 form of :func:`convert_darknet`'s model (dynamic input) to ``out``,
    built by ``onnxruntime.quantization.quantize_static`` in QDQ form.

    The backbone is quantised: per-channel symmetric int8 weights, int32 biases, uint8
    activations with the ``ranges`` from :func:`calibrate_ranges` (given to
    ``quantize_static`` as tensor overrides; max pooling and upsampling keep their input's
    quantisation) and the input at 1/255 steps (blobs of uint8 images are exact). The
    [yolo] head convolutions and the decoding stay float. onnxruntime runs the result as
    QLinearConv / QLinearLeakyRelu / QLinearConcat. A missing range raises ``ModelError``.
    """
    import onnx
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    with tempfile.TemporaryDirectory(prefix="cctrace-int8-") as tmp:
        float_path, int8_path = Path(tmp) / "float.onnx", Path(tmp) / "int8.onnx"
        converter = _convert(cfg_path, weights_path, float_path, None)
        missing = sorted(set(converter.taps) - set(ranges))
        if missing:
            raise ModelError(f"darknet->onnx: no int8 range for {missing[0]!r}")
        overrides = {"input": [{"rmin": np.float32(0.0), "rmax": np.float32(1.0)}]}
        for key, tensor in converter.taps.items():
            lo, hi = ranges[key]
            overrides[tensor] = [{"rmin": np.float32(lo), "rmax": np.float32(hi)}]
        op_types = {n.name: n.op_type for n in converter.g.nodes}
        nodes = [n for n in converter.backbone_nodes if op_types[n] in QUANTISED_OPS]
        hint = _NoPreprocessHint()
        logging.getLogger().addFilter(hint)
        try:
            quantize_static(
                str(float_path),
                str(int8_path),
                _OneBlob(),
                quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                per_channel=True,
                nodes_to_quantize=nodes,
                calibrate_method=CalibrationMethod.MinMax,
                extra_options={
                    "TensorQuantOverrides": overrides,
                    "ActivationSymmetric": False,
                    "WeightSymmetric": True,
                },
            )
        finally:
            logging.getLogger().removeFilter(hint)
        model = onnx.load(str(int8_path))
    produced_by = {o: n.op_type for n in model.graph.node for o in n.output}
    for node in model.graph.node:
        tensor = node.input[0]
        if (
            node.op_type == "QuantizeLinear"
            and tensor not in overrides
            and produced_by.get(tensor) not in SHARED_RANGE_OPS
        ):
            raise ModelError(f"darknet->onnx: int8 tensor {tensor!r} has no calibrated range")
    model.doc_string = (
        converter.doc + ", int8 QDQ backbone by onnxruntime.quantization.quantize_static"
    )
    Path(out).write_bytes(model.SerializeToString(deterministic=True))


def calibrate_ranges(
    cfg_path: Path, weights_path: Path, blobs: Iterable[np.ndarray]
) -> dict[str, tuple[float, float]]:
    """Min and max of every quantised activation of the float model over ``blobs``
    ((N, 3, H, W) float32 RGB in [0, 1]), by calibration key, for :func:`quantize_darknet`."""
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="cctrace-calib-") as tmp:
        path = Path(tmp) / "float.onnx"
        converter = _convert(cfg_path, weights_path, path, None)
        model = onnx.load(str(path))
    keys = sorted(converter.taps)
    for key in keys:
        model.graph.output.append(
            onnx.helper.make_tensor_value_info(converter.taps[key], onnx.TensorProto.FLOAT, None)
        )
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [converter.taps[k] for k in keys]
    lo = dict.fromkeys(keys, np.inf)
    hi = dict.fromkeys(keys, -np.inf)
    count = 0
    for blob in blobs:
        count += 1
        for key, value in zip(keys, session.run(names, {"input": blob}), strict=True):
            lo[key] = min(lo[key], float(value.min()))
            hi[key] = max(hi[key], float(value.max()))
    if not count:
        raise ValueError("calibration needs at least one blob")
    return {k: (lo[k], hi[k]) for k in keys}
