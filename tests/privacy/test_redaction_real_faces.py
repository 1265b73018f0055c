"""Redaction on real photos, checked with OpenCV's YuNet face detector.

After blurring every face but the subject's, YuNet must find at most the
subject's face (and still find it: the subject's pixels are untouched).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from cctrace.boxes import box_iou
from cctrace.privacy.redaction import redact_snapshot
from cctrace.vision.registry import ModelError, resolve

PHOTOS = [
    "faces/deepface/couple.jpg",
    "faces/deepface/selfie-many-people.jpg",
    "faces/face_recognition/knn_examples/test/obama_and_biden.jpg",
    "faces/face_recognition/knn_examples/test/kit_with_rose.jpg",
    "faces/face_recognition/two_people.jpg",
]
DETECT_THRESHOLD = 0.6
"""YuNet's usual operating threshold: what a reader's detector would report."""
REDACT_THRESHOLD = 0.3
"""Faces handed to redaction are detected permissively (false positives only cost
a blurred patch; a missed face is a privacy leak)."""


def _yunet_model() -> Path:
    """The YuNet file fetched by ``python -m cctrace.vision.prepare`` (setup runs it)."""
    try:
        return resolve("yunet-int8")
    except ModelError as exc:
        pytest.skip(f"YuNet model not prepared: {exc}")


def _detect(image: np.ndarray, threshold: float) -> np.ndarray:
    """YuNet face boxes as (N, 4) xyxy, best score first."""
    h, w = image.shape[:2]
    detector = cv2.FaceDetectorYN.create(str(_yunet_model()), "", (w, h), threshold, 0.3, 5000)
    _, faces = detector.detect(image)
    if faces is None:
        return np.zeros((0, 4))
    faces = faces[np.argsort(-faces[:, -1])]
    xywh = faces[:, :4].astype(np.float64)
    return np.column_stack([xywh[:, :2], xywh[:, :2] + xywh[:, 2:4]])


def _person_box(face: np.ndarray, shape: tuple[int, ...]) -> tuple[float, float, float, float]:
    """A plausible body box under a face: head at the top, clipped to the image."""
    x1, y1, x2, y2 = face
    fw, fh = x2 - x1, y2 - y1
    return (
        max(0.0, x1 - 0.6 * fw),
        max(0.0, y1 - 0.25 * fh),
        min(float(shape[1]), x2 + 0.6 * fw),
        min(float(shape[0]), y2 + 3.5 * fh),
    )


@pytest.mark.parametrize("photo", PHOTOS)
def test_only_the_subjects_face_survives(shared_data: Path, photo: str) -> None:
    path = shared_data / photo
    if not path.is_file():
        pytest.skip(f"{path} not found")
    loaded = cv2.imread(str(path))
    assert loaded is not None
    image = np.asarray(loaded, dtype=np.uint8)
    faces = _detect(image, REDACT_THRESHOLD)
    clear = _detect(image, DETECT_THRESHOLD)
    assert len(clear) >= 2, "the photo should show several faces"

    subject_face = clear[0]
    subject = _person_box(subject_face, image.shape)
    redacted = redact_snapshot(image, subject, faces, [subject])

    found = _detect(redacted, DETECT_THRESHOLD)
    assert len(found) <= 1, f"{len(found)} faces still detectable in {photo}"
    assert len(found) == 1, "the subject's face should still be detectable"
    assert box_iou(found[0], subject_face) > 0.5
    # Even a permissive detector finds nothing where a bystander's face was.
    for face in clear[1:]:
        for hit in _detect(redacted, REDACT_THRESHOLD):
            assert box_iou(face, hit) < 0.3, f"blurred face {face.tolist()} found again"
