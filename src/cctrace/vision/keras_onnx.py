"""Convert a Keras (tf.keras 2.x) functional-model ``.h5`` to ONNX without TensorFlow.

Reads the ``model_config`` JSON and the weights with :mod:`h5py` and emits an ONNX
graph with :mod:`onnx.helper`. Supported layers cover MobileNet-style classifiers:
InputLayer, Conv2D, DepthwiseConv2D, BatchNormalization, ReLU (with max_value),
Activation, ZeroPadding2D, Add, AveragePooling2D, MaxPooling2D,
GlobalAveragePooling2D, Flatten, Dense, Dropout. Anything else raises ``ModelError``.

The ONNX model takes the Keras input layout (N, H, W, C) float32, already
preprocessed, and returns the Keras output.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from cctrace.errors import ModelError
from cctrace.vision.onnx_graph import GraphBuilder

Layer = dict[str, Any]
Weights = list[np.ndarray]


def _pair(value: Any) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    return int(value[0]), int(value[1])


def _read_weights(h5: Any, layer_name: str) -> Weights:
    weights_root = h5.get("model_weights", h5)
    if layer_name not in weights_root:
        return []
    group = weights_root[layer_name]
    names = [n.decode() if isinstance(n, bytes) else n for n in group.attrs["weight_names"]]
    return [np.asarray(group[n], dtype=np.float32) for n in names]


class _Converter:
    """Walks the Keras layer list in order (functional graphs are topologically sorted)."""

    def __init__(self, config: dict[str, Any], h5: Any) -> None:
        self.config = config
        self.h5 = h5
        self.g = GraphBuilder(config.get("name", "keras_model"))
        self.tensors: dict[str, str] = {}
        self.handlers: dict[str, Callable[[Layer, list[str], Weights], str]] = {
            "Conv2D": self._conv2d,
            "DepthwiseConv2D": self._depthwise,
            "BatchNormalization": self._batch_norm,
            "ReLU": self._relu,
            "Activation": self._activation_layer,
            "ZeroPadding2D": self._zero_pad,
            "Add": self._add,
            "AveragePooling2D": self._avg_pool,
            "MaxPooling2D": self._max_pool,
            "GlobalAveragePooling2D": self._global_avg_pool,
            "Flatten": self._flatten,
            "Dense": self._dense,
            "Dropout": self._identity,
        }

    # -- helpers -----------------------------------------------------------------
    def _activation(self, x: str, name: str, base: str) -> str:
        if name in ("linear", None):
            return x
        if name == "relu":
            return self.g.op("Relu", [x], base)
        if name == "relu6":
            return self.g.relu6(x, base)
        if name == "softmax":
            return self.g.op("Softmax", [x], base, axis=-1)
        if name == "sigmoid":
            return self.g.op("Sigmoid", [x], base)
        raise ModelError(f"keras->onnx: unsupported activation {name!r} in {base}")

    @staticmethod
    def _check_channels_last(layer: Layer) -> None:
        fmt = layer["config"].get("data_format", "channels_last")
        if fmt != "channels_last":
            raise ModelError(f"keras->onnx: {layer['name']} uses {fmt}, expected channels_last")

    def _padding(self, layer: Layer) -> dict[str, Any]:
        cfg = layer["config"]
        if cfg.get("padding") == "same":
            return {"auto_pad": "SAME_UPPER"}  # TF 'same' puts the extra pixel at the end
        if cfg.get("padding") == "valid":
            return {}
        raise ModelError(f"keras->onnx: {layer['name']} padding {cfg.get('padding')!r}")

    # -- layers ------------------------------------------------------------------
    def _conv2d(self, layer: Layer, ins: list[str], w: Weights) -> str:
        cfg = layer["config"]
        self._check_channels_last(layer)
        if _pair(cfg.get("dilation_rate", 1)) != (1, 1) or cfg.get("groups", 1) != 1:
            raise ModelError(f"keras->onnx: {layer['name']}: dilation/groups unsupported")
        kernel = w[0].transpose(3, 2, 0, 1)  # (kh, kw, in, out) -> (out, in, kh, kw)
        bias = w[1] if cfg.get("use_bias", True) else None
        y = self.g.conv(
            ins[0],
            kernel,
            bias,
            base=layer["name"],
            strides=_pair(cfg["strides"]),
            **self._padding(layer),
        )
        return self._activation(y, cfg.get("activation", "linear"), layer["name"] + "_act")

    def _depthwise(self, layer: Layer, ins: list[str], w: Weights) -> str:
        cfg = layer["config"]
        self._check_channels_last(layer)
        if _pair(cfg.get("dilation_rate", 1)) != (1, 1):
            raise ModelError(f"keras->onnx: {layer['name']}: dilation unsupported")
        kh, kw, cin, mult = w[0].shape
        kernel = w[0].reshape(kh, kw, cin * mult).transpose(2, 0, 1)[:, None, :, :]
        bias = w[1] if cfg.get("use_bias", True) else None
        y = self.g.conv(
            ins[0],
            kernel,
            bias,
            base=layer["name"],
            strides=_pair(cfg["strides"]),
            group=cin,
            **self._padding(layer),
        )
        return self._activation(y, cfg.get("activation", "linear"), layer["name"] + "_act")

    def _batch_norm(self, layer: Layer, ins: list[str], w: Weights) -> str:
        cfg = layer["config"]
        axis = cfg.get("axis", -1)
        axis = axis[0] if isinstance(axis, list) else axis
        if axis not in (-1, 3):
            raise ModelError(f"keras->onnx: {layer['name']}: BatchNormalization axis {axis}")
        it = iter(w)
        gamma = next(it) if cfg.get("scale", True) else None
        beta = next(it) if cfg.get("center", True) else None
        mean, var = next(it), next(it)
        return self.g.batch_norm(
            ins[0],
            base=layer["name"],
            gamma=gamma if gamma is not None else np.ones_like(mean),
            beta=beta if beta is not None else np.zeros_like(mean),
            mean=mean,
            var=var,
            eps=float(cfg.get("epsilon", 1e-3)),
        )

    def _relu(self, layer: Layer, ins: list[str], w: Weights) -> str:
        cfg = layer["config"]
        if float(cfg.get("negative_slope", 0.0)) != 0.0 or float(cfg.get("threshold", 0.0)):
            raise ModelError(f"keras->onnx: {layer['name']}: leaky/thresholded ReLU")
        max_value = cfg.get("max_value")
        if max_value is None:
            return self.g.op("Relu", ins, layer["name"])
        if float(max_value) == 6.0:
            return self.g.relu6(ins[0], layer["name"])
        lo = self.g.const("lo", np.array(0.0, np.float32))
        hi = self.g.const("hi", np.array(float(max_value), np.float32))
        return self.g.op("Clip", [ins[0], lo, hi], layer["name"])

    def _activation_layer(self, layer: Layer, ins: list[str], w: Weights) -> str:
        return self._activation(ins[0], layer["config"]["activation"], layer["name"])

    def _zero_pad(self, layer: Layer, ins: list[str], w: Weights) -> str:
        self._check_channels_last(layer)
        pad = layer["config"]["padding"]
        if isinstance(pad, int):
            (top, bottom), (left, right) = (pad, pad), (pad, pad)
        else:
            (top, bottom), (left, right) = _pair(pad[0]), _pair(pad[1])
        pads = self.g.const("pads", np.array([0, 0, top, left, 0, 0, bottom, right], np.int64))
        return self.g.op("Pad", [ins[0], pads], layer["name"], mode="constant")

    def _add(self, layer: Layer, ins: list[str], w: Weights) -> str:
        y = ins[0]
        for other in ins[1:]:
            y = self.g.op("Add", [y, other], layer["name"])
        return y

    def _pool(self, op: str, layer: Layer, ins: list[str]) -> str:
        cfg = layer["config"]
        self._check_channels_last(layer)
        pool = _pair(cfg["pool_size"])
        strides = _pair(cfg.get("strides") or cfg["pool_size"])
        return self.g.op(
            op,
            ins,
            layer["name"],
            kernel_shape=list(pool),
            strides=list(strides),
            **self._padding(layer),
        )

    def _avg_pool(self, layer: Layer, ins: list[str], w: Weights) -> str:
        return self._pool("AveragePool", layer, ins)

    def _max_pool(self, layer: Layer, ins: list[str], w: Weights) -> str:
        return self._pool("MaxPool", layer, ins)

    def _global_avg_pool(self, layer: Layer, ins: list[str], w: Weights) -> str:
        y = self.g.op("GlobalAveragePool", ins, layer["name"])
        return self.g.op("Flatten", [y], layer["name"] + "_flat", axis=1)

    def _flatten(self, layer: Layer, ins: list[str], w: Weights) -> str:
        # Keras flattens in (H, W, C) order: go back to NHWC first.
        nhwc = self.g.op("Transpose", ins, layer["name"] + "_nhwc", perm=[0, 2, 3, 1])
        return self.g.op("Flatten", [nhwc], layer["name"], axis=1)

    def _dense(self, layer: Layer, ins: list[str], w: Weights) -> str:
        cfg = layer["config"]
        y = self.g.dense(ins[0], w[0], w[1] if cfg.get("use_bias", True) else None, layer["name"])
        return self._activation(y, cfg.get("activation", "linear"), layer["name"] + "_act")

    def _identity(self, layer: Layer, ins: list[str], w: Weights) -> str:
        return ins[0]

    # -- driver ------------------------------------------------------------------
    def run(self, out: Path, doc: str) -> None:
        inputs = self.config["input_layers"]
        outputs = self.config["output_layers"]
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError("keras->onnx: only single-input, single-output models")
        input_layer = inputs[0][0]
        shape: list[int | str] = ["N", 0, 0, 0]
        for layer in self.config["layers"]:
            name = layer["name"]
            kind = layer["class_name"]
            if kind == "InputLayer":
                dims = layer["config"]["batch_input_shape"]
                shape = ["N", *[int(d) for d in dims[1:]]]
                self.tensors[name] = self.g.op("Transpose", ["input"], "to_nchw", perm=[0, 3, 1, 2])
                continue
            handler = self.handlers.get(kind)
            if handler is None:
                raise ModelError(f"keras->onnx: unsupported layer {kind} ({name})")
            nodes = layer["inbound_nodes"]
            if len(nodes) != 1:
                raise ModelError(f"keras->onnx: shared layer {name} unsupported")
            ins = [self.tensors[ref[0]] for ref in nodes[0]]
            self.tensors[name] = handler(layer, ins, _read_weights(self.h5, name))
        if input_layer not in self.tensors:
            raise ModelError("keras->onnx: input layer not found")
        self.g.op("Identity", [self.tensors[outputs[0][0]]], "output", output="output")
        self.g.save(
            out,
            input_name="input",
            input_shape=shape,
            output_name="output",
            output_shape=["N", "K"],
            doc=doc,
        )


def convert_keras_h5(h5_path: Path, out: Path) -> None:
    """Write an ONNX equivalent of the Keras ``.h5`` model at ``h5_path`` to ``out``."""
    import h5py

    with h5py.File(h5_path, "r") as h5:
        raw = h5.attrs.get("model_config")
        if raw is None:
            raise ModelError(f"{h5_path}: no model_config attribute (not a Keras .h5 model)")
        config = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        if config.get("class_name") not in ("Model", "Functional"):
            raise ModelError(f"{h5_path}: expected a functional Keras model")
        _Converter(config["config"], h5).run(out, doc=f"converted from {Path(h5_path).name}")
