"""Body appearance embeddings: who looks like whom when no face is usable.

Two adapters behind :class:`~cctrace.vision.base.BodyEmbedder` (``embed(image, boxes)``
-> one L2-normalised row per person box, compared by cosine):

- ``part-colour`` (default, no weights): a clothing descriptor. The box is cut into
  horizontal parts (head, torso, legs); each part's pixels (minus a border that is
  mostly background) give a hue x saturation histogram weighted by saturation, plus a
  grey-level histogram for the unsaturated (black, white, grey) pixels, both over
  brightness-normalised values so a shadow or another camera's exposure moves them
  little. Parts are square-rooted (Hellinger) and weighted, so a cosine of two
  descriptors is a weighted Bhattacharyya similarity. 0.1 ms per crop.
- ``onnx-reid``: any user-supplied re-identification network in ONNX with an OSNet-
  style interface (input N x 3 x H x W RGB, ImageNet mean/std, output N x D), pinned
  by ``sha256`` in the site file. cctrace ships no re-ID weights (none are published
  under a licence and in a package we may use offline); a site that has one brings it.

Measured by ``python bench/body_reid.py`` on PETS2009 ground-truth crops (see the README,
"Body appearance"). Both are weak alone on small, similarly dressed people: cctrace never
accepts a sighting on body appearance alone; it ranks candidates for the investigator,
together with time, place and height.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from cctrace.errors import ModelError
from cctrace.types import FloatArray, Image
from cctrace.vision.base import l2_normalise
from cctrace.vision.checks import check_image
from cctrace.vision.registry import sha256_file
from cctrace.vision.runtime import create_session

logger = logging.getLogger(__name__)

PARTS: tuple[tuple[str, float, float], ...] = (
    ("head", 0.0, 0.18),
    ("torso", 0.18, 0.55),
    ("legs", 0.55, 1.0),
)
"""Horizontal parts of a standing person's box (fractions of its height)."""
DEFAULT_PART_WEIGHTS: dict[str, float] = {"head": 0.0, "torso": 1.0, "legs": 1.0}
"""How much each part counts. Tuned on PETS S2L1 ground-truth crops (``bench/body_reid.py``,
rank-1 / mAP): head alone 0.204 / 0.127, torso 0.448 / 0.344, legs 0.292 / 0.268; all
three (head 0.5) 0.487 / 0.414, torso + legs 0.532 / 0.418, head 0.25 0.513 / 0.418. At
CCTV size the head is hair and background, so it is left out by default."""
HUE_BINS = 12
SAT_BINS = 3
GREY_BINS = 6
MIN_SATURATION = 40
"""Pixels less saturated than this (of 255) count as grey levels, not hues."""
SIDE_MARGIN = 0.15
"""Fraction of the box width left out on each side (mostly background)."""


def box_crop(image: Image, box: Sequence[float]) -> Image | None:
    """The pixels of ``box`` (x1, y1, x2, y2) inside ``image``, or None when under 2x2."""
    h, w = image.shape[:2]
    x1, y1 = max(round(box[0]), 0), max(round(box[1]), 0)
    x2, y2 = min(round(box[2]), w), min(round(box[3]), h)
    if x2 - x1 < 2 or y2 - y1 < 2:
        return None
    return image[y1:y2, x1:x2]


class PartColourEmbedder:
    """Clothing colour per body part (no learned weights; see the module doc).

    Args:
        part_weights: weight of each part (``head``, ``torso``, ``legs``); 0 leaves a
            part out.
        side_margin: fraction of the box width left out on each side.
    """

    def __init__(
        self,
        part_weights: dict[str, float] | None = None,
        side_margin: float = SIDE_MARGIN,
    ) -> None:
        weights = dict(DEFAULT_PART_WEIGHTS if part_weights is None else part_weights)
        unknown = set(weights) - {name for name, _, _ in PARTS}
        if unknown:
            raise ValueError(f"unknown body parts {sorted(unknown)}; use head, torso, legs")
        if any(not np.isfinite(v) or v < 0 for v in weights.values()) or not any(weights.values()):
            raise ValueError(f"part weights must be >= 0 and not all 0, got {weights}")
        if not 0.0 <= side_margin < 0.5:
            raise ValueError(f"side_margin must be in [0, 0.5), got {side_margin}")
        self.part_weights = {name: float(weights.get(name, 0.0)) for name, _, _ in PARTS}
        self.side_margin = side_margin
        self.dim = len(PARTS) * (HUE_BINS * SAT_BINS + GREY_BINS)

    def embed(self, image: Image, boxes: Sequence[Sequence[float]]) -> FloatArray:
        """(len(boxes), dim) L2-normalised descriptors; a box outside the image gives zeros."""
        check_image(image)
        out = np.zeros((len(boxes), self.dim), np.float32)
        for row, box in enumerate(boxes):
            crop = box_crop(image, box)
            if crop is not None:
                out[row] = self.describe(crop)
        return l2_normalise(out)

    def describe(self, crop: Image) -> FloatArray:
        """The (unnormalised) descriptor of one person crop."""
        h, w = crop.shape[:2]
        margin = round(self.side_margin * w)
        inner = crop[:, margin : max(w - margin, margin + 1)]
        hsv = cv2.cvtColor(np.ascontiguousarray(inner), cv2.COLOR_BGR2HSV)
        # Brightness normalised per crop: the same clothes under another exposure or in
        # shade keep their hue and relative greys.
        value = hsv[:, :, 2].astype(np.float32)
        lo, hi = np.percentile(value, (2, 98)) if value.size else (0.0, 255.0)
        value = np.clip((value - lo) / max(hi - lo, 1.0), 0.0, 1.0)
        parts = []
        size = HUE_BINS * SAT_BINS + GREY_BINS
        for name, top, bottom in PARTS:
            weight = self.part_weights[name]
            y0, y1 = round(top * h), max(round(bottom * h), round(top * h) + 1)
            if weight == 0.0:
                parts.append(np.zeros(size, np.float32))
                continue
            part_hsv, part_v = hsv[y0:y1], value[y0:y1]
            parts.append(weight * _part_histogram(part_hsv, part_v))
        return np.concatenate(parts).astype(np.float32)


def _part_histogram(hsv: np.ndarray, value: np.ndarray) -> FloatArray:
    """Square-rooted, sum-to-one histogram of one part: hue x saturation of coloured
    pixels (weighted by saturation) and grey levels of the rest."""
    size = HUE_BINS * SAT_BINS + GREY_BINS
    if hsv.size == 0:
        return np.zeros(size, np.float32)
    hue = hsv[:, :, 0].astype(np.int32).ravel()  # OpenCV hue: 0..179
    sat = hsv[:, :, 1].astype(np.int32).ravel()
    val = value.ravel()
    coloured = sat >= MIN_SATURATION
    hist = np.zeros(size, np.float64)
    if coloured.any():
        h_bin = np.minimum(hue[coloured] * HUE_BINS // 180, HUE_BINS - 1)
        s_bin = np.minimum(
            (sat[coloured] - MIN_SATURATION) * SAT_BINS // (256 - MIN_SATURATION), SAT_BINS - 1
        )
        np.add.at(hist, h_bin * SAT_BINS + s_bin, sat[coloured] / 255.0)
    grey = ~coloured
    if grey.any():
        g_bin = np.minimum((val[grey] * GREY_BINS).astype(np.int32), GREY_BINS - 1)
        np.add.at(hist, HUE_BINS * SAT_BINS + g_bin, 1.0 - sat[grey] / 255.0)
    total = hist.sum()
    if total <= 0:
        return np.zeros(size, np.float32)
    return np.sqrt(hist / total).astype(np.float32)


IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


class OnnxReidEmbedder:
    """A user-supplied person re-identification network in ONNX (type ``onnx-reid``).

    Args:
        path: the ``.onnx`` file.
        sha256: its expected SHA-256 (hex); checked when the model loads.
        input_height, input_width: the network's input size (OSNet: 256 x 128).
        batch: crops per forward pass.
        threads: onnxruntime intra-op threads (None: every core this process may use).

    Input N x 3 x H x W, RGB, scaled to [0, 1] then ImageNet mean/std; output N x D.
    The network loads on the first :meth:`embed`, not at construction.
    """

    def __init__(
        self,
        path: str | Path,
        sha256: str,
        input_height: int = 256,
        input_width: int = 128,
        batch: int = 16,
        threads: int | None = None,
    ) -> None:
        self.path = Path(path).expanduser()
        digest = str(sha256).strip().lower()
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(f"sha256 must be 64 hex digits, got {sha256!r}")
        if not 16 <= input_height <= 1024 or not 16 <= input_width <= 1024:
            raise ValueError(
                f"input size must be within 16..1024 px, got {input_height}x{input_width}"
            )
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be >= 1 or None, got {threads}")
        self.sha256 = digest
        self.input_size = (int(input_height), int(input_width))
        self.batch = int(batch)
        self.threads = threads
        self.dim = 0
        self._session: Any = None
        self._input_name = ""
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._session is None:
                import onnxruntime as ort

                if not self.path.is_file():
                    raise ModelError(f"re-ID model {self.path} not found")
                found = sha256_file(self.path)
                if found != self.sha256:
                    raise ModelError(
                        f"re-ID model {self.path}: sha256 {found} does not match the "
                        f"configured {self.sha256}"
                    )
                options = ort.SessionOptions()
                if self.threads:
                    options.intra_op_num_threads = self.threads
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                session = create_session(str(self.path), options, f"re-ID model {self.path}")
                inputs = session.get_inputs()
                if len(inputs) != 1 or len(inputs[0].shape) != 4:
                    raise ModelError(
                        f"re-ID model {self.path}: expected one N x 3 x H x W input, found "
                        f"{[i.shape for i in inputs]}"
                    )
                self._input_name = inputs[0].name
                self._session = session
                logger.info("loaded re-ID model %s", self.path.name)
            return self._session

    def embed(self, image: Image, boxes: Sequence[Sequence[float]]) -> FloatArray:
        """(len(boxes), D) L2-normalised embeddings; a box outside the image gives zeros."""
        check_image(image)
        crops = [box_crop(image, box) for box in boxes]
        return self.embed_crops(crops)

    def embed_crops(self, crops: Sequence[Image | None]) -> FloatArray:
        """Embeddings of person crops (None: a zero row)."""
        session = self._load()
        height, width = self.input_size
        rows: list[np.ndarray] = []
        for start in range(0, len(crops), self.batch):
            chunk = crops[start : start + self.batch]
            blob = np.zeros((len(chunk), 3, height, width), np.float32)
            for i, crop in enumerate(chunk):
                if crop is None:
                    continue
                rgb = cv2.cvtColor(
                    cv2.resize(crop, (width, height), interpolation=cv2.INTER_LINEAR),
                    cv2.COLOR_BGR2RGB,
                )
                blob[i] = (
                    (rgb.astype(np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
                ).transpose(2, 0, 1)
            out = np.asarray(session.run(None, {self._input_name: blob})[0], np.float32)
            out = out.reshape(len(chunk), -1)
            for i, crop in enumerate(chunk):
                if crop is None:
                    out[i] = 0.0
            rows.append(out)
        if not rows:
            return np.zeros((0, max(self.dim, 1)), np.float32)
        embeddings = np.concatenate(rows)
        self.dim = int(embeddings.shape[1])
        return l2_normalise(embeddings)
