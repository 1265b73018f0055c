"""Face quality score and the five-point alignment."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import pytest

from cctrace.types import Face
from cctrace.vision.face import SFaceEmbedder, YuNetFaceDetector
from cctrace.vision.quality import (
    ARCFACE_TEMPLATE_112,
    align_face,
    face_quality,
    pose_factors,
    quality_factors,
    similarity_transform,
)


def _face(
    landmarks: list[tuple[float, float]],
    box: tuple[float, ...] = (0, 0, 100, 100),
    score: float = 0.9,
) -> Face:
    return Face(xyxy=(box[0], box[1], box[2], box[3]), score=score, landmarks=tuple(landmarks))


FRONTAL = [(30.0, 40.0), (70.0, 40.0), (50.0, 63.0), (35.0, 80.0), (65.0, 80.0)]


@pytest.mark.parametrize(
    ("landmarks", "yaw", "pitch", "roll"),
    [
        (FRONTAL, 1.0, 1.0, 1.0),
        ([(30, 40), (70, 40), (30, 63), (35, 80), (65, 80)], 0.0, 1.0, 1.0),  # nose at an eye
        ([(30, 40), (70, 40), (50, 41), (35, 80), (65, 80)], 1.0, 0.0, 1.0),  # nose at eyes
        ([(30, 40), (70, 80), (50, 63), (35, 80), (65, 80)], None, None, 0.25),  # 45 deg roll
    ],
    ids=["frontal", "profile", "looking-up", "rolled"],
)
def test_pose_factors(
    landmarks: list[tuple[float, float]], yaw: float | None, pitch: float | None, roll: float
) -> None:
    got = pose_factors(_face(landmarks))
    for value, expected in zip(got, (yaw, pitch, roll), strict=True):
        assert 0.0 <= value <= 1.0
        if expected is not None:
            assert value == pytest.approx(expected, abs=0.02)


def test_similarity_transform_recovers_known_transform() -> None:
    angle, scale, shift = np.radians(20), 1.7, np.array([5.0, -3.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    src = ARCFACE_TEMPLATE_112
    dst = src @ rot.T + shift
    m = similarity_transform(src, dst)
    assert np.allclose(m[:, :2], rot, atol=1e-9) and np.allclose(m[:, 2], shift, atol=1e-9)


def test_alignment_matches_sface(load_image: Callable[..., np.ndarray]) -> None:
    image = load_image("faces", "face_recognition", "two_people.jpg")
    face = YuNetFaceDetector().detect(image)[0]
    ours = align_face(image, face).astype(np.int16)
    theirs = SFaceEmbedder().align(image, face).astype(np.int16)
    assert np.abs(ours - theirs).mean() < 1.0


def test_quality_drops_with_size_and_blur(load_image: Callable[..., np.ndarray]) -> None:
    image = load_image("faces", "face_recognition", "two_people.jpg")
    detector = YuNetFaceDetector()

    def right_face(img: np.ndarray) -> Face:
        return max(detector.detect(img), key=lambda f: f.xyxy[0])

    face = right_face(image)
    full = quality_factors(image, face)
    assert set(full) == {"size", "sharpness", "pose", "detector"}
    assert full["size"] == 1.0 and full["sharpness"] > 0.8
    q_full = face_quality(image, face)
    small = np.asarray(
        cv2.resize(image, None, fx=0.15, fy=0.15, interpolation=cv2.INTER_AREA), np.uint8
    )
    q_small = face_quality(small, right_face(small))
    blurred = np.asarray(cv2.GaussianBlur(image, (0, 0), 6), np.uint8)
    blur_face = right_face(blurred)
    assert quality_factors(blurred, blur_face)["sharpness"] < 0.3
    q_blur = face_quality(blurred, blur_face)
    assert 0.0 <= q_small < q_full <= 1.0 and q_blur < q_full - 0.2
    assert q_full > 0.7


def test_profile_scores_lower_than_frontal() -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (120, 120, 3), dtype=np.uint8)
    frontal = _face(FRONTAL)
    profile = _face([(30, 40), (70, 40), (33, 63), (35, 80), (65, 80)])
    assert face_quality(image, profile) < 0.6 * face_quality(image, frontal)


def test_bad_image_raises() -> None:
    with pytest.raises(ValueError):
        face_quality(np.zeros((10, 10), np.uint8), _face(FRONTAL))
