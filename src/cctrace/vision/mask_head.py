"""A logistic head over the two MobileNetV2 mask models' features.

Features of a 112x112 aligned face crop (:func:`head_features`): each model's logit
margin ``logit(mask) - logit(no mask)``, 12 colour / texture statistics of the lower
face against the upper face (:func:`colour_features`), and each model's penultimate
layer (Keras: 128 values, torch: 256), optionally averaged over the crop and its
mirror image. A standardised L2-regularised logistic regression (:class:`LogisticHead`)
over a chosen set of columns maps them to p(mask). The shipped head reads the two
margins and the colour statistics (14 weights), without mirroring.

The head is trained by ``python scripts/train_mask_head.py`` on synthetic masks drawn
on real unmasked faces (no evaluation data) and shipped as
``cctrace/vision/data/mask_head.json`` (package data).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

from cctrace.errors import ModelError
from cctrace.types import FloatArray, Image

HEAD_FILE = "mask_head.json"
HEAD_FORMAT = "cctrace.mask-head/1"


def _mirror(crops: Sequence[Image]) -> list[Image]:
    return [np.ascontiguousarray(c[:, ::-1]) for c in crops]


#: rows / columns of the 112x112 aligned crop (SFace: eyes at y 52, nose tip 72,
#: mouth 92): above the mask line, and where a mask would be
UPPER = (slice(35, 60), slice(25, 87))
LOWER = (slice(80, 110), slice(30, 82))
N_COLOUR = 12
#: named column sets of :func:`head_features` rows
_MARGINS, _COLOUR = [0, 1], list(range(2, 2 + N_COLOUR))
COLUMN_SETS: dict[str, list[int]] = {
    "margins": _MARGINS,
    "margins+colour": _MARGINS + _COLOUR,
    "all": list(range(2 + N_COLOUR + 128 + 256)),
}


def _skin_fraction(ycrcb: np.ndarray) -> float:
    cr, cb = ycrcb[:, 1], ycrcb[:, 2]
    return float(((cr > 133) & (cr < 173) & (cb > 77) & (cb < 127)).mean())


def colour_features(crops: Sequence[Image]) -> FloatArray:
    """(N, 12) colour and texture statistics of the lower face against the upper face.

    Per 112x112 aligned BGR crop (other sizes are resized): Lab mean differences
    lower - upper (3) and middle - upper (3), mean Lab standard deviation of the lower
    and of the upper region (2), skin-coloured fraction (YCrCb box) lower - upper and
    lower (2), a/b chroma distance lower - upper (1) and gradient energy lower / upper
    (1). A mask
    changes the lower face's colour and texture; a bare face's lower half is skin.
    """
    import cv2

    out = np.zeros((len(crops), N_COLOUR), np.float32)
    for i, crop in enumerate(crops):
        c = crop if crop.shape[:2] == (112, 112) else cv2.resize(crop, (112, 112))
        lab = cv2.cvtColor(c, cv2.COLOR_BGR2LAB).astype(np.float32)
        ycc = cv2.cvtColor(c, cv2.COLOR_BGR2YCrCb).astype(np.float32)
        up, low = lab[UPPER].reshape(-1, 3), lab[LOWER].reshape(-1, 3)
        mid = lab[62:78, 20:92].reshape(-1, 3)
        skin_up = _skin_fraction(ycc[UPPER].reshape(-1, 3))
        skin_low = _skin_fraction(ycc[LOWER].reshape(-1, 3))
        mu, ml, mm = up.mean(0), low.mean(0), mid.mean(0)
        grey = cv2.cvtColor(c, cv2.COLOR_BGR2GRAY).astype(np.float32)
        grad = np.abs(cv2.Sobel(grey, cv2.CV_32F, 1, 0)) + np.abs(cv2.Sobel(grey, cv2.CV_32F, 0, 1))
        out[i] = [
            *(ml - mu),
            *(mm - mu),
            low.std(0).mean(),
            up.std(0).mean(),
            skin_low - skin_up,
            skin_low,
            np.abs(ml[1:] - mu[1:]).sum(),
            grad[LOWER].mean() / (grad[UPPER].mean() + 1),
        ]
    return out


def head_features(
    crops: Sequence[Image], members: Sequence[Any] | None = None, mirror: bool = True
) -> FloatArray:
    """(N, 2 + 12 + sum of feature dims) features of aligned BGR face crops: the
    members' logit margins (2), :func:`colour_features` (12), then the members'
    penultimate features (128 + 256); the network outputs are averaged with the
    mirrored crops' when ``mirror``.

    ``members`` default to the Keras and torch MobileNetV2 classifiers (one thread).
    """
    if members is None:
        from cctrace.vision.mask import (
            KerasMobileNetV2MaskClassifier,
            TorchMobileNetV2MaskClassifier,
        )

        members = [KerasMobileNetV2MaskClassifier(), TorchMobileNetV2MaskClassifier()]
    views = [list(crops), _mirror(crops)] if mirror else [list(crops)]
    margins: list[np.ndarray] = []
    feats: list[np.ndarray] = []
    for member in members:
        outs = [member.features(v) for v in views]
        margins.append(np.mean([o[0] for o in outs], axis=0).reshape(-1, 1))
        feats.append(np.mean([o[1] for o in outs], axis=0).reshape(len(crops), -1))
    return np.asarray(np.hstack([*margins, colour_features(crops), *feats]), np.float32)


@dataclass(frozen=True)
class LogisticHead:
    """p = sigmoid(((x - mean) / scale) . weights + bias) over chosen feature columns.

    Attributes:
        columns: indices into :func:`head_features` output that the head reads.
        mean, scale: standardisation of those columns.
        weights, bias: the logistic regression.
        mirror: whether features average the crop with its mirror image.
    """

    columns: tuple[int, ...]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float
    mirror: bool = True

    def __post_init__(self) -> None:
        n = len(self.columns)
        if not (self.mean.shape == self.scale.shape == self.weights.shape == (n,)):
            raise ValueError("columns, mean, scale and weights must have the same length")
        if n == 0 or (self.scale <= 0).any():
            raise ValueError("a head needs columns with positive scales")

    def decision(self, features: np.ndarray) -> np.ndarray:
        """(N,) logit of p(mask) from :func:`head_features` rows."""
        x = np.asarray(features, np.float64)[:, list(self.columns)]
        return np.asarray(((x - self.mean) / self.scale) @ self.weights + self.bias)

    def predict(self, features: np.ndarray) -> FloatArray:
        """(N,) p(mask) from :func:`head_features` rows."""
        z = np.clip(self.decision(features), -50, 50)
        return np.asarray(1.0 / (1.0 + np.exp(-z)), np.float32)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record (format ``cctrace.mask-head/1``)."""
        return {
            "format": HEAD_FORMAT,
            "mirror": self.mirror,
            "columns": list(self.columns),
            "mean": [float(v) for v in self.mean],
            "scale": [float(v) for v in self.scale],
            "weights": [float(v) for v in self.weights],
            "bias": float(self.bias),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LogisticHead:
        """Inverse of :meth:`to_dict`; raises ValueError on another format."""
        if data.get("format") != HEAD_FORMAT:
            raise ValueError(f"not a {HEAD_FORMAT} record: {data.get('format')!r}")
        return cls(
            columns=tuple(int(c) for c in data["columns"]),
            mean=np.asarray(data["mean"], np.float64),
            scale=np.asarray(data["scale"], np.float64),
            weights=np.asarray(data["weights"], np.float64),
            bias=float(data["bias"]),
            mirror=bool(data.get("mirror", True)),
        )


def load_head(name: str = HEAD_FILE) -> LogisticHead:
    """The shipped head from ``cctrace/vision/data``; ModelError when missing or bad."""
    try:
        text = resources.files("cctrace.vision").joinpath("data", name).read_text()
        return LogisticHead.from_dict(json.loads(text))
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"cannot load the mask head {name}: {exc}") from exc


def fit_logistic(
    x: np.ndarray,
    y: np.ndarray,
    l2: float = 1.0,
    columns: Sequence[int] | None = None,
    mirror: bool = True,
) -> LogisticHead:
    """Standardise the columns, then fit an L2-penalised logistic regression.

    Minimises mean log-loss + ``l2 / (2 N)`` * |w|^2 (bias not penalised) with
    L-BFGS from zero: deterministic for the same inputs.
    """
    from scipy.optimize import minimize

    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64).reshape(-1)
    if x.ndim != 2 or x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError("x must be (N, D) with one label per row")
    if not set(np.unique(y)) <= {0.0, 1.0} or len(np.unique(y)) < 2:
        raise ValueError("labels must be 0 and 1, both present")
    cols = tuple(range(x.shape[1])) if columns is None else tuple(int(c) for c in columns)
    xs = x[:, list(cols)]
    mean = xs.mean(axis=0)
    scale = xs.std(axis=0)
    scale[scale < 1e-6] = 1.0
    z = (xs - mean) / scale
    n = len(y)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:-1], theta[-1]
        t = z @ w + b
        # log(1 + e^t) - y t, stable
        value = float(np.mean(np.logaddexp(0.0, t) - y * t) + l2 / (2 * n) * w @ w)
        p = 1.0 / (1.0 + np.exp(-t))
        grad_w = z.T @ (p - y) / n + l2 / n * w
        grad_b = float(np.mean(p - y))
        return value, np.append(grad_w, grad_b)

    result = minimize(
        loss, np.zeros(z.shape[1] + 1), jac=True, method="L-BFGS-B", options={"maxiter": 2000}
    )
    theta = np.asarray(result.x, np.float64)
    return LogisticHead(cols, mean, scale, theta[:-1], float(theta[-1]), mirror)


class MaskHeadClassifier:
    """The default mask classifier: a logistic head over both MobileNetV2 models'
    logit margins and colour statistics of the lower face against the upper face.

    Feed it the aligned 112x112 crops from
    :meth:`cctrace.vision.face.SFaceEmbedder.align`, as ingest does. See
    :mod:`cctrace.vision.mask` for measured accuracy and cost.

    Args:
        threads: onnxruntime threads of each member model.
        batch_size: crops per inference call.
        head: a :class:`LogisticHead`, or the name of a head file in
            ``cctrace/vision/data`` (default: the shipped ``mask_head.json``).
    """

    def __init__(
        self, threads: int = 1, batch_size: int = 32, head: LogisticHead | str = HEAD_FILE
    ) -> None:
        from cctrace.vision.mask import (
            KerasMobileNetV2MaskClassifier,
            TorchMobileNetV2MaskClassifier,
        )

        self.members = [
            KerasMobileNetV2MaskClassifier(threads=threads, batch_size=batch_size),
            TorchMobileNetV2MaskClassifier(threads=threads, batch_size=batch_size),
        ]
        self._head_source = head
        self._head: LogisticHead | None = head if isinstance(head, LogisticHead) else None

    @property
    def head(self) -> LogisticHead:
        """The logistic head (loaded from package data on first use)."""
        if self._head is None:
            self._head = load_head(str(self._head_source))
        return self._head

    def classify(self, face_crops: Sequence[Image]) -> FloatArray:
        """(N,) probability that a mask is worn, one per aligned BGR face crop."""
        if len(face_crops) == 0:
            return np.zeros(0, np.float32)
        head = self.head
        features = head_features(face_crops, self.members, mirror=head.mirror)
        return head.predict(features)
