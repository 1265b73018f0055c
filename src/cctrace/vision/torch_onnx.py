"""Convert mask-recognition's torch MobileNetV2 state dict to ONNX without torch.

:func:`load_state_dict` reads a ``torch.save`` zip archive with a restricted
unpickler that rebuilds tensors as numpy arrays (only ``OrderedDict`` and tensor
rebuild functions are allowed, so no arbitrary code runs). :func:`convert_mask_recognition_pth`
rebuilds torchvision's ``mobilenet_v2().features`` (inverted residual blocks, ReLU6,
BatchNorm eps 1e-5) from the state dict keys, then the head
``Linear(1280*4*4, 256) - ReLU - Linear(256, 2) - LogSoftmax``.

The ONNX model takes (N, 3, 128, 128) float32 RGB normalised as ``(x/255 - 0.5)/0.5``
and returns log-probabilities for ``[with_mask, without_mask]``.
"""

from __future__ import annotations

import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from cctrace.errors import ModelError
from cctrace.vision.onnx_graph import GraphBuilder

_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}

# torchvision MobileNetV2 (t, c, n, s) per stage; features[0] is the stem conv.
_MOBILENET_V2_SETTINGS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
_TORCH_BN_EPS = 1e-5


class _StorageType:
    def __init__(self, name: str) -> None:
        self.dtype = _STORAGE_DTYPES[name]


def _rebuild_tensor_v2(
    storage: np.ndarray,
    offset: int,
    size: tuple[int, ...],
    stride: tuple[int, ...],
    *_: Any,
) -> np.ndarray:
    itemsize = storage.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], shape=tuple(size), strides=tuple(s * itemsize for s in stride)
    )
    return np.array(view)


class _Unpickler(pickle.Unpickler):
    def __init__(self, fh: Any, archive: zipfile.ZipFile, prefix: str) -> None:
        super().__init__(fh)
        self._archive = archive
        self._prefix = prefix

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a state dict")

    def persistent_load(self, pid: Any) -> np.ndarray:
        kind, storage_type, key, _location, _numel = pid
        if kind != "storage" or not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        raw = self._archive.read(f"{self._prefix}data/{key}")
        return np.frombuffer(raw, dtype=np.dtype(storage_type.dtype).newbyteorder("<"))


def load_state_dict(path: Path) -> dict[str, np.ndarray]:
    """Read a zip-format ``torch.save`` state dict as numpy arrays (no torch needed)."""
    try:
        with zipfile.ZipFile(path) as archive:
            pkl = next((n for n in archive.namelist() if n.endswith("data.pkl")), None)
            if pkl is None:
                raise ModelError(f"{path}: no data.pkl (not a zip-format torch checkpoint)")
            prefix = pkl[: -len("data.pkl")]
            with archive.open(pkl) as fh:
                state = _Unpickler(fh, archive, prefix).load()
    except (zipfile.BadZipFile, pickle.UnpicklingError, KeyError) as exc:
        raise ModelError(f"{path}: cannot read torch state dict: {exc}") from exc
    if not isinstance(state, dict):
        raise ModelError(f"{path}: expected a state dict, got {type(state).__name__}")
    return {str(k): np.asarray(v) for k, v in state.items()}


class _MobileNetV2Features:
    def __init__(self, g: GraphBuilder, sd: dict[str, np.ndarray], prefix: str) -> None:
        self.g = g
        self.sd = sd
        self.prefix = prefix

    def _conv_bn(
        self, x: str, conv: str, bn: str, *, stride: int = 1, group: int = 1, relu: bool = True
    ) -> str:
        w = self.sd[f"{conv}.weight"]
        pad = (w.shape[-1] - 1) // 2
        y = self.g.conv(
            x,
            w,
            None,
            base=conv,
            strides=(stride, stride),
            pads=(pad, pad, pad, pad),
            group=group,
        )
        y = self.g.batch_norm(
            y,
            base=bn,
            gamma=self.sd[f"{bn}.weight"],
            beta=self.sd[f"{bn}.bias"],
            mean=self.sd[f"{bn}.running_mean"],
            var=self.sd[f"{bn}.running_var"],
            eps=_TORCH_BN_EPS,
        )
        return self.g.relu6(y, bn + "_relu6") if relu else y

    def _block(self, x: str, index: int, stride: int) -> str:
        p = f"{self.prefix}{index}.conv"
        expand = f"{p}.0.0.weight" in self.sd and f"{p}.3.weight" in self.sd
        y = x
        if expand:
            y = self._conv_bn(y, f"{p}.0.0", f"{p}.0.1")
            dw_conv, dw_bn, pw_conv, pw_bn = f"{p}.1.0", f"{p}.1.1", f"{p}.2", f"{p}.3"
        else:
            dw_conv, dw_bn, pw_conv, pw_bn = f"{p}.0.0", f"{p}.0.1", f"{p}.1", f"{p}.2"
        channels = self.sd[f"{dw_conv}.weight"].shape[0]
        y = self._conv_bn(y, dw_conv, dw_bn, stride=stride, group=channels)
        y = self._conv_bn(y, pw_conv, pw_bn, relu=False)
        cin = self.sd[f"{p}.0.0.weight"].shape[1] if expand else channels
        cout = self.sd[f"{pw_conv}.weight"].shape[0]
        if stride == 1 and cin == cout:
            y = self.g.op("Add", [x, y], f"{p}_residual")
        return y

    def build(self, x: str) -> str:
        y = self._conv_bn(x, f"{self.prefix}0.0", f"{self.prefix}0.1", stride=2)
        index = 1
        for _t, _c, n, s in _MOBILENET_V2_SETTINGS:
            for i in range(n):
                y = self._block(y, index, s if i == 0 else 1)
                index += 1
        return self._conv_bn(y, f"{self.prefix}{index}.0", f"{self.prefix}{index}.1")


def convert_mask_recognition_pth(pth_path: Path, out: Path) -> None:
    """Write mask-recognition's ``model.pth`` as an ONNX model to ``out``."""
    sd = load_state_dict(pth_path)
    if "top.0.weight" not in sd or "bottom.0.0.weight" not in sd:
        raise ModelError(f"{pth_path}: not a mask-recognition RecognitionModel state dict")
    g = GraphBuilder("mask_recognition_mobilenetv2")
    features = _MobileNetV2Features(g, sd, "bottom.").build("input")
    flat = g.op("Flatten", [features], "flatten", axis=1)  # NCHW order, like x.view(n, -1)
    h = g.op("Relu", [g.dense(flat, sd["top.0.weight"].T, sd["top.0.bias"], "fc1")], "fc1_relu")
    logits = g.dense(h, sd["top.2.weight"].T, sd["top.2.bias"], "fc2")
    g.op("LogSoftmax", [logits], "log_softmax", output="output", axis=1)
    g.save(
        out,
        input_name="input",
        input_shape=["N", 3, 128, 128],
        output_name="output",
        output_shape=["N", 2],
        doc=f"converted from {Path(pth_path).name}",
    )
