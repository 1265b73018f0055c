"""A tiny ONNX graph builder shared by the model converters (needs only ``onnx``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

OPSET = 13
IR_VERSION = 8


class GraphBuilder:
    """Accumulates nodes and initialisers; names are made unique by a counter."""

    def __init__(self, name: str) -> None:
        from onnx import helper, numpy_helper  # local: onnx is needed only when converting

        self._helper = helper
        self._numpy_helper = numpy_helper
        self.name = name
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0

    def unique(self, base: str) -> str:
        """A fresh tensor name starting with ``base``."""
        self._count += 1
        return f"{base}__{self._count}"

    def const(self, base: str, value: np.ndarray) -> str:
        """Add an initialiser and return its name."""
        name = self.unique(base)
        self.initializers.append(self._numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(
        self, op_type: str, inputs: list[str], base: str, *, output: str = "", **attrs: Any
    ) -> str:
        """Add a one-output node and return its output name (``output`` or a fresh one)."""
        out = output or self.unique(base)
        self.nodes.append(self._helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def conv(
        self,
        x: str,
        weight: np.ndarray,
        bias: np.ndarray | None,
        *,
        base: str,
        strides: tuple[int, int] = (1, 1),
        pads: tuple[int, int, int, int] = (0, 0, 0, 0),
        group: int = 1,
        auto_pad: str | None = None,
    ) -> str:
        """Conv (NCHW) with an OIHW float32 weight."""
        inputs = [x, self.const(f"{base}_w", weight.astype(np.float32))]
        if bias is not None:
            inputs.append(self.const(f"{base}_b", bias.astype(np.float32)))
        attrs: dict[str, Any] = {
            "kernel_shape": list(weight.shape[2:]),
            "strides": list(strides),
            "group": group,
        }
        if auto_pad:
            attrs["auto_pad"] = auto_pad
        else:
            attrs["pads"] = list(pads)
        return self.op("Conv", inputs, base, **attrs)

    def batch_norm(
        self,
        x: str,
        *,
        base: str,
        gamma: np.ndarray,
        beta: np.ndarray,
        mean: np.ndarray,
        var: np.ndarray,
        eps: float,
    ) -> str:
        """Inference-mode BatchNormalization over channel axis 1."""
        ins = [x] + [
            self.const(f"{base}_{n}", a.astype(np.float32))
            for n, a in (("scale", gamma), ("bias", beta), ("mean", mean), ("var", var))
        ]
        return self.op("BatchNormalization", ins, base, epsilon=float(eps))

    def relu6(self, x: str, base: str) -> str:
        """Clip to [0, 6]."""
        lo = self.const(f"{base}_min", np.array(0.0, np.float32))
        hi = self.const(f"{base}_max", np.array(6.0, np.float32))
        return self.op("Clip", [x, lo, hi], base)

    def dense(self, x: str, kernel: np.ndarray, bias: np.ndarray | None, base: str) -> str:
        """x @ kernel (+ bias), kernel shaped (in, out)."""
        y = self.op("MatMul", [x, self.const(f"{base}_k", kernel.astype(np.float32))], base)
        if bias is not None:
            y = self.op("Add", [y, self.const(f"{base}_b", bias.astype(np.float32))], base)
        return y

    def save(
        self,
        path: Path,
        *,
        input_name: str,
        input_shape: list[int | str],
        output_name: str,
        output_shape: list[int | str],
        doc: str,
        opset: int = OPSET,
    ) -> None:
        """Check the graph and write the model (deterministic bytes)."""
        import onnx

        h = self._helper
        graph = h.make_graph(
            self.nodes,
            self.name,
            [h.make_tensor_value_info(input_name, onnx.TensorProto.FLOAT, input_shape)],
            [h.make_tensor_value_info(output_name, onnx.TensorProto.FLOAT, output_shape)],
            initializer=self.initializers,
        )
        model = h.make_model(
            graph,
            opset_imports=[h.make_opsetid("", opset)],
            producer_name="cctrace",
            doc_string=doc,
        )
        model.ir_version = IR_VERSION
        onnx.checker.check_model(model)
        Path(path).write_bytes(model.SerializeToString(deterministic=True))
