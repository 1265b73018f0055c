"""Mask classifiers (ONNX conversions of two MobileNetV2 models) on real masked faces."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from defusedxml import ElementTree

from cctrace.vision import build_mask_classifier
from cctrace.vision.mask import (
    EnsembleMaskClassifier,
    KerasMobileNetV2MaskClassifier,
    TorchMobileNetV2MaskClassifier,
)

LABELS = {"with_mask": 1, "without_mask": 0}
SUBSET_FILES = 80


@pytest.fixture(scope="module")
def mask_crops(data_path: Callable[..., Path]) -> tuple[list[np.ndarray], np.ndarray]:
    """Ground-truth face boxes (+15 % per side) of the first 80 annotated photos."""
    root = data_path("masks", "kaggle-andrewmvd")
    crops, labels = [], []
    for xml in sorted((root / "annotations").glob("*.xml"))[:SUBSET_FILES]:
        tree = ElementTree.parse(xml).getroot()
        image = cv2.imread(str(root / "images" / tree.findtext("filename", "")))
        assert image is not None
        h, w = image.shape[:2]
        for obj in tree.iter("object"):
            label = LABELS.get((obj.findtext("name") or "").strip())
            box = obj.find("bndbox")
            if label is None or box is None:
                continue
            x0, y0, x1, y1 = (float(box.findtext(k, "0")) for k in ("xmin", "ymin", "xmax", "ymax"))
            mx, my = 0.15 * (x1 - x0), 0.15 * (y1 - y0)
            a, b = max(0, round(x0 - mx)), max(0, round(y0 - my))
            c, d = min(w, round(x1 + mx)), min(h, round(y1 + my))
            crops.append(np.ascontiguousarray(image[b:d, a:c]))
            labels.append(label)
    return crops, np.asarray(labels)


# Measured on this subset (85 faces: 44 masked, 41 bare): keras acc 0.800 (mask 0.841,
# bare 0.756); torch 0.741 (0.955, 0.512); average 0.800 (0.955, 0.634). Full-set
# figures are in cctrace.vision.mask.
@pytest.mark.parametrize(
    ("factory", "min_accuracy", "min_recall_mask", "min_recall_bare"),
    [
        (KerasMobileNetV2MaskClassifier, 0.75, 0.78, 0.70),
        (TorchMobileNetV2MaskClassifier, 0.70, 0.90, 0.45),
        (EnsembleMaskClassifier, 0.75, 0.90, 0.58),
    ],
    ids=["keras", "torch", "average"],
)
def test_accuracy_on_real_masks(
    mask_crops: tuple[list[np.ndarray], np.ndarray],
    factory: Callable[[], Any],
    min_accuracy: float,
    min_recall_mask: float,
    min_recall_bare: float,
) -> None:
    crops, labels = mask_crops
    prob = factory().classify(crops)
    assert prob.shape == (len(crops),) and prob.dtype == np.float32
    assert ((prob >= 0) & (prob <= 1)).all()
    worn = prob >= 0.5
    accuracy = float((worn == (labels == 1)).mean())
    recall_mask = float(worn[labels == 1].mean())
    recall_bare = float((~worn[labels == 0]).mean())
    summary = f"acc {accuracy:.3f} mask {recall_mask:.3f} bare {recall_bare:.3f}"
    assert accuracy >= min_accuracy, summary
    assert recall_mask >= min_recall_mask, summary
    assert recall_bare >= min_recall_bare, summary


def test_ensemble_is_mean_of_members(mask_crops: tuple[list[np.ndarray], np.ndarray]) -> None:
    crops = mask_crops[0][:8]
    keras, torch = KerasMobileNetV2MaskClassifier(), TorchMobileNetV2MaskClassifier()
    expected = (keras.classify(crops) + torch.classify(crops)) / 2
    assert np.allclose(EnsembleMaskClassifier([keras, torch]).classify(crops), expected)
    weighted = EnsembleMaskClassifier([keras, torch], weights=[1, 0]).classify(crops)
    assert np.allclose(weighted, keras.classify(crops))


@pytest.mark.parametrize("batch_size", [1, 3, 32])
def test_batching_does_not_change_results(batch_size: int) -> None:
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 255, (rng.integers(20, 200), 90, 3), dtype=np.uint8) for _ in range(7)]
    reference = TorchMobileNetV2MaskClassifier(batch_size=7).classify(crops)
    got = TorchMobileNetV2MaskClassifier(batch_size=batch_size).classify(crops)
    assert np.allclose(got, reference, atol=1e-5)


def test_empty_input_gives_empty_output() -> None:
    assert build_mask_classifier().classify([]).shape == (0,)


@pytest.mark.parametrize(
    "crop",
    [
        np.zeros((0, 10, 3), np.uint8),
        np.zeros((10, 10, 3), np.float32),
        np.zeros((10, 10), np.uint8),
    ],
    ids=["empty", "float32", "grey"],
)
@pytest.mark.parametrize("type_", ["keras-mobilenetv2", "torch-mobilenetv2", "mobilenetv2-avg"])
def test_bad_crops_raise(type_: str, crop: np.ndarray) -> None:
    with pytest.raises(ValueError):
        build_mask_classifier(type_).classify([crop])


@pytest.mark.parametrize(
    "params", [{"threads": -1}, {"batch_size": 0}], ids=["threads", "batch_size"]
)
def test_bad_parameters_raise(params: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        KerasMobileNetV2MaskClassifier(**params)


def test_ensemble_bad_weights_raise() -> None:
    with pytest.raises(ValueError):
        EnsembleMaskClassifier(weights=[1.0])
    with pytest.raises(ValueError):
        EnsembleMaskClassifier(members=[])
