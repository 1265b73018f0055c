"""Model adapters behind small protocols, chosen by a ``type`` key.

Importing this package loads no model: the adapters are imported and their networks
created only when a ``build_*`` factory's product is first used.

==================  =====================  ==========================================
registry            type                   class
==================  =====================  ==========================================
PERSON_DETECTORS    ``yolov3-tiny``        :class:`~.person.YoloV3TinyPersonDetector`
PERSON_DETECTORS    ``yolov3-tiny-onnx``   :class:`~.person.YoloV3TinyOnnxPersonDetector`
PERSON_DETECTORS    ``yolov3-tiny-int8``   :class:`~.person.YoloV3TinyInt8PersonDetector`
PERSON_DETECTORS    ``onnx-yolo``          :class:`~.onnx_yolo.OnnxYoloPersonDetector`
PERSON_DETECTORS    ``yolov8n-agpl``       :class:`~.yolov8n_agpl.YoloV8nAgplPersonDetector`
                                           (opt-in, **AGPL-3.0 weights**)
FACE_DETECTORS      ``yunet``              :class:`~.face.YuNetFaceDetector`
FACE_EMBEDDERS      ``sface``              :class:`~.face.SFaceEmbedder`
MASK_CLASSIFIERS    ``mobilenetv2-head``   :class:`~.mask_head.MaskHeadClassifier` (default)
MASK_CLASSIFIERS    ``mobilenetv2-avg``    :class:`~.mask.EnsembleMaskClassifier`
MASK_CLASSIFIERS    ``keras-mobilenetv2``  :class:`~.mask.KerasMobileNetV2MaskClassifier`
MASK_CLASSIFIERS    ``torch-mobilenetv2``  :class:`~.mask.TorchMobileNetV2MaskClassifier`
BODY_EMBEDDERS      ``part-colour``        :class:`~.body.PartColourEmbedder` (default)
BODY_EMBEDDERS      ``onnx-reid``          :class:`~.body.OnnxReidEmbedder` (user-supplied)
==================  =====================  ==========================================
"""

from __future__ import annotations

import importlib
from typing import Any

from cctrace.vision.base import (
    BodyEmbedder,
    FaceDetector,
    FaceEmbedder,
    MaskClassifier,
    PersonDetector,
)

PERSON_DETECTORS: dict[str, str] = {
    "yolov3-tiny": "cctrace.vision.person:YoloV3TinyPersonDetector",
    "yolov3-tiny-onnx": "cctrace.vision.person:YoloV3TinyOnnxPersonDetector",
    "yolov3-tiny-int8": "cctrace.vision.person:YoloV3TinyInt8PersonDetector",
    # A YOLOv5/v8-style ONNX file of the site's own, sha256-pinned in the site file.
    "onnx-yolo": "cctrace.vision.onnx_yolo:OnnxYoloPersonDetector",
    # Opt-in only: AGPL-3.0 weights, installed by `scripts/setup.sh --agpl-detector`.
    "yolov8n-agpl": "cctrace.vision.yolov8n_agpl:YoloV8nAgplPersonDetector",
}
FACE_DETECTORS: dict[str, str] = {
    "yunet": "cctrace.vision.face:YuNetFaceDetector",
}
FACE_EMBEDDERS: dict[str, str] = {
    "sface": "cctrace.vision.face:SFaceEmbedder",
}
MASK_CLASSIFIERS: dict[str, str] = {
    "mobilenetv2-head": "cctrace.vision.mask_head:MaskHeadClassifier",
    "mobilenetv2-avg": "cctrace.vision.mask:EnsembleMaskClassifier",
    "keras-mobilenetv2": "cctrace.vision.mask:KerasMobileNetV2MaskClassifier",
    "torch-mobilenetv2": "cctrace.vision.mask:TorchMobileNetV2MaskClassifier",
}
BODY_EMBEDDERS: dict[str, str] = {
    "part-colour": "cctrace.vision.body:PartColourEmbedder",
    "onnx-reid": "cctrace.vision.body:OnnxReidEmbedder",
}

DEFAULTS: dict[str, str] = {
    "person_detector": "yolov3-tiny-onnx",
    "face_detector": "yunet",
    "face_embedder": "sface",
    "mask_classifier": "mobilenetv2-head",
    "body_embedder": "part-colour",
}


def _adapter_class(kind: str, registry: dict[str, str], type_: str) -> Any:
    """The class registered for ``type_`` (its module imported, nothing built)."""
    target = registry.get(type_)
    if target is None:
        known = ", ".join(sorted(registry))
        raise ValueError(f"unknown {kind} type {type_!r}; expected one of: {known}")
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def _build(kind: str, registry: dict[str, str], type_: str, params: dict[str, Any]) -> Any:
    cls = _adapter_class(kind, registry, type_)
    try:
        return cls(**params)
    except TypeError as exc:
        raise ValueError(f"bad parameters for {kind} {type_!r}: {exc}") from exc


def person_detector_tracker_high_confidence(type_: str) -> float | None:
    """The ByteTrack first-round score a person detector type declares, or None.

    ByteTrack matches boxes at or above that score first and starts tracks only from
    them; its default (:data:`cctrace.tracking.tracker.HIGH_CONFIDENCE`) was tuned with
    YOLOv3-tiny. A detector that scores people on another scale declares its own as the
    class attribute ``tracker_high_confidence``; a class without one (every default
    detector) gives None, the tracker's default. Imports the adapter's module only: no
    model is loaded. ValueError for an unknown type.
    """
    cls = _adapter_class("person detector", PERSON_DETECTORS, type_)
    value = getattr(cls, "tracker_high_confidence", None)
    return None if value is None else float(value)


def build_person_detector(type: str = "yolov3-tiny", **params: Any) -> PersonDetector:
    """A person detector by type key (see ``PERSON_DETECTORS``)."""
    detector: PersonDetector = _build("person detector", PERSON_DETECTORS, type, params)
    return detector


def build_face_detector(type: str = "yunet", **params: Any) -> FaceDetector:
    """A face detector by type key (see ``FACE_DETECTORS``)."""
    detector: FaceDetector = _build("face detector", FACE_DETECTORS, type, params)
    return detector


def build_face_embedder(type: str = "sface", **params: Any) -> FaceEmbedder:
    """A face embedder by type key (see ``FACE_EMBEDDERS``)."""
    embedder: FaceEmbedder = _build("face embedder", FACE_EMBEDDERS, type, params)
    return embedder


def build_mask_classifier(type: str = "mobilenetv2-head", **params: Any) -> MaskClassifier:
    """A mask classifier by type key (see ``MASK_CLASSIFIERS``)."""
    classifier: MaskClassifier = _build("mask classifier", MASK_CLASSIFIERS, type, params)
    return classifier


def build_body_embedder(type: str = "part-colour", **params: Any) -> BodyEmbedder:
    """A body appearance embedder by type key (see ``BODY_EMBEDDERS``)."""
    embedder: BodyEmbedder = _build("body embedder", BODY_EMBEDDERS, type, params)
    return embedder


__all__ = [
    "BODY_EMBEDDERS",
    "DEFAULTS",
    "FACE_DETECTORS",
    "FACE_EMBEDDERS",
    "MASK_CLASSIFIERS",
    "PERSON_DETECTORS",
    "BodyEmbedder",
    "FaceDetector",
    "FaceEmbedder",
    "MaskClassifier",
    "PersonDetector",
    "build_body_embedder",
    "build_face_detector",
    "build_face_embedder",
    "build_mask_classifier",
    "build_person_detector",
    "person_detector_tracker_high_confidence",
]
