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
``convert_darknet(..., int8_ranges=...)`` emits the backbone in QDQ form (per-channel
symmetric int8 weights, int32 biases, uint8 activations; max pooling and upsampling keep
their input's quantisation), which onnxruntime runs as QLinearConv / QLinearLeakyRelu /
QLinearConcat. The two head convolutions and the decoding stay float.

Darknet weights file: int32 major, minor, revision, then ``seen`` as int64 when
``major * 10 + minor >= 2`` and ``major < 1000`` (else int32), then per convolution either
[beta, gamma, rolling mean, rolling variance] (with batch norm) or [bias], each
``filters`` long, followed by the (filters, channels / groups, size, size) kernel.
"""

from __future__ import annotations

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


def _uint8_qparams(lo: float, hi: float) -> tuple[float, int]:
    """Asymmetric uint8 (scale, zero point) for a range (widened to include 0)."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    scale = (hi - lo) / 255.0 if hi > lo else 1.0
    return scale, int(np.clip(round(-lo / scale), 0, 255))


class _Converter:
    def __init__(
        self, sections: list[Section], weights: _WeightReader, ranges: Ranges | None = None
    ) -> None:
        self.net = sections[0]
        self.layers = sections[1:]
        self.weights = weights
        self.ranges = ranges
        self.g = GraphBuilder("darknet")
        self.outputs: list[str] = []  # per layer
        self.channels: list[int] = []  # per layer
        self.heads: list[str] = []
        self.row_width = 0
        self.input_hw = ""
        self.taps: dict[str, str] = {}  # range key -> float tensor (for calibration)
        self.qparams: dict[str, tuple[float, int]] = {}  # dequantised tensor -> (scale, zp)

    # -- helpers -----------------------------------------------------------------
    def _i64(self, base: str, values: list[int]) -> str:
        return self.g.const(base, np.array(values, np.int64))

    def _f32(self, base: str, values: np.ndarray | list[float] | float) -> str:
        return self.g.const(base, np.asarray(values, np.float32))

    def _qdq(self, x: str, scale: float, zero_point: int, base: str) -> str:
        """QuantizeLinear + DequantizeLinear (uint8): onnxruntime fuses the float ops
        between such pairs into their integer forms (QLinearConv, ...)."""
        s = self._f32(base + "_qs", np.array(scale, np.float32))
        z = self.g.const(base + "_qz", np.array(zero_point, np.uint8))
        q = self.g.op("QuantizeLinear", [x, s, z], base + "_q")
        y = self.g.op("DequantizeLinear", [q, s, z], base + "_dq")
        self.qparams[y] = (scale, zero_point)
        return y

    def _tap(self, x: str, key: str) -> str:
        """A calibration point: with int8 ranges, quantise ``x`` to its range there."""
        self.taps[key] = x
        if self.ranges is None:
            return x
        if key not in self.ranges:
            raise ModelError(f"darknet->onnx: no int8 range for {key!r}")
        lo, hi = self.ranges[key]
        return self._qdq(x, *_uint8_qparams(lo, hi), base=key.replace(".", "_"))

    def _same_qparams(self, x: str, y: str, base: str) -> str:
        """Requantise ``y`` as ``x`` (max pooling and resizing run on uint8 then)."""
        if x not in self.qparams:
            return y
        return self._qdq(y, *self.qparams[x], base=base + "_rq")

    def _int8_conv(
        self,
        x: str,
        kernel: np.ndarray,
        bias: np.ndarray,
        *,
        base: str,
        stride: int,
        pad: int,
        groups: int,
    ) -> str:
        """Conv with per-channel symmetric int8 weights and int32 bias (QDQ form)."""
        if x not in self.qparams:
            raise ModelError(f"darknet->onnx: {base}: int8 conv on an unquantised input")
        x_scale = self.qparams[x][0]
        w_scale = np.abs(kernel).reshape(len(kernel), -1).max(axis=1) / 127.0
        w_scale = np.where(w_scale > 0, w_scale, 1.0).astype(np.float32)
        w_q = np.clip(np.round(kernel / w_scale[:, None, None, None]), -127, 127)
        b_scale = (np.float64(x_scale) * w_scale).astype(np.float32)
        b_q = np.round(bias / b_scale.astype(np.float64))
        b_q = np.clip(b_q, np.iinfo(np.int32).min, np.iinfo(np.int32).max).astype(np.int32)
        g = self.g
        w = g.op(
            "DequantizeLinear",
            [
                g.const(base + "_wq", w_q.astype(np.int8)),
                g.const(base + "_ws", w_scale),
                g.const(base + "_wz", np.zeros(len(w_scale), np.int8)),
            ],
            base + "_w",
            axis=0,
        )
        b = g.op(
            "DequantizeLinear",
            [
                g.const(base + "_bq", b_q),
                g.const(base + "_bs", b_scale),
                g.const(base + "_bz", np.zeros(len(b_scale), np.int32)),
            ],
            base + "_b",
            axis=0,
        )
        size = int(kernel.shape[2])
        return g.op(
            "Conv",
            [x, w, b],
            base,
            kernel_shape=[size, size],
            strides=[stride, stride],
            pads=[pad, pad, pad, pad],
            group=groups,
        )

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
        if self.ranges is not None and not head:
            y = self._int8_conv(
                x,
                kernel,
                np.asarray(bias, np.float64),
                base=base,
                stride=stride,
                pad=pad,
                groups=groups,
            )
        else:  # float (also the [yolo] heads of an int8 model: their logits need precision)
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
        return self._same_qparams(x, y, base)

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
        return self._same_qparams(x, y, base)

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
        channels = self.net.get_int("channels", 3)
        if channels != 3:
            raise ModelError(f"darknet->onnx: {channels}-channel input unsupported")
        shape = self.g.op("Shape", ["input"], "input_shape")
        in_wh = self.g.op("Gather", [shape, self._i64("wh_idx", [3, 2])], "input_wh", axis=0)
        self.input_hw = self.g.op("Cast", [in_wh], "input_whf", to=1)
        x, cin = "input", channels
        if self.ranges is not None:  # blobs of uint8 images: k / 255 is exact in uint8
            x = self._qdq(x, 1.0 / 255.0, 0, "input")
        kinds = [s.type for s in self.layers]
        for at, s in enumerate(self.layers):
            base = f"l{at:03d}_{s.type}"
            if s.type in ("convolutional", "conv"):
                head = at + 1 < len(kinds) and kinds[at + 1] == "yolo"
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


def _convert(
    cfg_path: Path,
    weights_path: Path,
    out: Path,
    input_size: int | None,
    ranges: Ranges | None,
) -> _Converter:
    if input_size is not None and (input_size <= 0 or input_size % 32):
        raise ValueError(f"input_size must be a positive multiple of 32, got {input_size}")
    sections = parse_cfg(cfg_path)
    header, values = read_weights(weights_path)
    converter = _Converter(sections, _WeightReader(values, Path(weights_path)), ranges)
    doc = (
        f"converted from {Path(cfg_path).name} + {Path(weights_path).name} "
        f"(darknet {header[0]}.{header[1]}.{header[2]}"
        f"{', int8 QDQ' if ranges is not None else ''}) by cctrace.vision.darknet_onnx"
    )
    converter.run(out, input_size, doc)
    return converter


def convert_darknet(
    cfg_path: Path,
    weights_path: Path,
    out: Path,
    *,
    input_size: int | None = None,
    int8_ranges: Ranges | None = None,
) -> None:
    """Write an ONNX equivalent of a Darknet YOLO cfg + weights to ``out``.

    ``input_size`` fixes the input to (N, 3, S, S) (a multiple of 32); None leaves H and W
    dynamic. With ``int8_ranges`` (from :func:`calibrate_ranges`) the backbone is
    quantised in QDQ form: per-channel symmetric int8 weights, uint8 activations with
    those ranges; the [yolo] head convolutions and the decoding stay float. The output
    is deterministic: the same inputs give the same bytes.
    """
    _convert(cfg_path, weights_path, out, input_size, int8_ranges)


def calibrate_ranges(
    cfg_path: Path, weights_path: Path, blobs: Iterable[np.ndarray]
) -> dict[str, tuple[float, float]]:
    """Min and max of every quantised activation of the float model over ``blobs``
    ((N, 3, H, W) float32 RGB in [0, 1]), by calibration key, for ``int8_ranges``."""
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="cctrace-calib-") as tmp:
        path = Path(tmp) / "float.onnx"
        converter = _convert(cfg_path, weights_path, path, None, None)
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
