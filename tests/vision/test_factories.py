"""Type-keyed registries and factories in cctrace.vision."""

from __future__ import annotations

from typing import Any

import pytest

from cctrace import vision
from cctrace.vision.face import SFaceEmbedder, YuNetFaceDetector
from cctrace.vision.mask import EnsembleMaskClassifier, KerasMobileNetV2MaskClassifier
from cctrace.vision.person import YoloV3TinyPersonDetector


@pytest.mark.parametrize(
    ("factory", "type_", "params", "cls"),
    [
        (
            vision.build_person_detector,
            "yolov3-tiny",
            {"input_size": 608},
            YoloV3TinyPersonDetector,
        ),
        (vision.build_face_detector, "yunet", {"score_threshold": 0.7}, YuNetFaceDetector),
        (vision.build_face_embedder, "sface", {}, SFaceEmbedder),
        (vision.build_mask_classifier, "mobilenetv2-avg", {"threads": 2}, EnsembleMaskClassifier),
        (vision.build_mask_classifier, "keras-mobilenetv2", {}, KerasMobileNetV2MaskClassifier),
    ],
)
def test_factories_build_by_type(
    factory: Any, type_: str, params: dict[str, Any], cls: type
) -> None:
    assert isinstance(factory(type_, **params), cls)


@pytest.mark.parametrize(
    "factory",
    [
        vision.build_person_detector,
        vision.build_face_detector,
        vision.build_face_embedder,
        vision.build_mask_classifier,
    ],
)
def test_unknown_type_raises_with_choices(factory: Any) -> None:
    with pytest.raises(ValueError, match=r"unknown .* type 'nope'; expected one of"):
        factory("nope")


def test_unknown_parameter_raises() -> None:
    with pytest.raises(ValueError, match="bad parameters for person detector"):
        vision.build_person_detector("yolov3-tiny", colour="red")


def test_defaults_are_registered() -> None:
    registries = {
        "person_detector": vision.PERSON_DETECTORS,
        "face_detector": vision.FACE_DETECTORS,
        "face_embedder": vision.FACE_EMBEDDERS,
        "mask_classifier": vision.MASK_CLASSIFIERS,
        "body_embedder": vision.BODY_EMBEDDERS,
    }
    for stage, type_ in vision.DEFAULTS.items():
        assert type_ in registries[stage]
