"""Face quality in 0..1, to pick the best face crops of a tracklet.

Formula (a weighted geometric mean, so one bad factor pulls the whole score down)::

    quality = size^0.30 * sharpness^0.20 * pose^0.40 * detector^0.10

- ``size``: shorter side of the face box in pixels, mapped linearly from
  ``SIZE_MIN_PX`` (16 px -> 0) to ``SIZE_GOOD_PX`` (64 px -> 1), clipped. SFace still
  matches 30-45 px faces, below ~16 px identity is mostly gone.
- ``sharpness``: variance of the Laplacian ``v`` of the 112x112 aligned grey crop (the
  crop SFace sees, so upscaled small faces count as blurry), as ``v / (v + SHARP_HALF)``
  with ``SHARP_HALF`` = 100 (v = 100 gives 0.5; sharp frontal photos give 200-2000).
- ``pose``: ``yaw * pitch * roll`` from the five landmarks:
  ``yaw = 1 - 2|t - 0.5|`` where ``t`` is the nose's position projected along the
  eye-to-eye segment (0.5 when the nose sits midway between the eyes);
  ``pitch = 1 - |r - PITCH_CENTRE| / PITCH_RANGE`` with ``r`` the nose's distance from
  the eye line over the mouth's distance from it (median 0.58 over 105 frontal-ish
  faces of shared/data/faces, p5-p95 0.53-0.72; 0 when r is 0 or 1);
  ``roll = 1 - |angle of the eye line| / 60 deg``. Each is clipped to [0, 1].
- ``detector``: the face detector's score, clipped to [0, 1].

Every factor is floored at 1e-3 before the product, so a zero factor gives ~0.
"""

from __future__ import annotations

import math

import numpy as np

from cctrace.types import Face, Image
from cctrace.vision.checks import check_image

SIZE_MIN_PX = 16.0
SIZE_GOOD_PX = 64.0
SHARP_HALF = 100.0
PITCH_CENTRE = 0.58
PITCH_RANGE = 0.42
ROLL_MAX_DEG = 60.0
WEIGHTS = {"size": 0.30, "sharpness": 0.20, "pose": 0.40, "detector": 0.10}

ARCFACE_TEMPLATE_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)
"""Five-point template of a 112x112 aligned face (the one SFace/ArcFace use)."""


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2x3 least-squares similarity transform mapping ``src`` points onto ``dst`` (Umeyama)."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s0, d0 = src - mu_s, dst - mu_d
    cov = d0.T @ s0 / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rot = u @ sign @ vt
    var_s = (s0**2).sum() / len(src)
    scale = float(np.trace(np.diag(sig) @ sign) / var_s) if var_s > 0 else 1.0
    m = np.zeros((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - scale * rot @ mu_s
    return m


def align_face(image: Image, face: Face, size: int = 112) -> Image:
    """Five-point similarity-aligned ``size`` x ``size`` crop (ArcFace template)."""
    import cv2

    check_image(image)
    template = ARCFACE_TEMPLATE_112 * (size / 112.0)
    m = similarity_transform(np.asarray(face.landmarks, np.float64), template)
    return np.asarray(cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR), np.uint8)


def sharpness(crop: Image) -> float:
    """Variance of the Laplacian of a BGR crop's grey image."""
    import cv2

    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def _clip01(x: float) -> float:
    return min(1.0, max(0.0, x))


def pose_factors(face: Face) -> tuple[float, float, float]:
    """(yaw, pitch, roll) factors in 0..1 from the five landmarks (1 = frontal)."""
    pts = np.asarray(face.landmarks, np.float64)
    eye_a, eye_b, nose = pts[0], pts[1], pts[2]
    mouth = (pts[3] + pts[4]) / 2
    axis = eye_b - eye_a
    eye_dist2 = float(axis @ axis)
    if eye_dist2 < 1e-6:
        return 0.0, 0.0, 0.0
    t = float((nose - eye_a) @ axis) / eye_dist2
    yaw = _clip01(1.0 - 2.0 * abs(t - 0.5))
    normal = np.array([-axis[1], axis[0]]) / math.sqrt(eye_dist2)
    nose_d = float((nose - eye_a) @ normal)
    mouth_d = float((mouth - eye_a) @ normal)
    pitch = (
        _clip01(1.0 - abs(nose_d / mouth_d - PITCH_CENTRE) / PITCH_RANGE)
        if abs(mouth_d) > 1e-6
        else 0.0
    )
    angle = abs(math.degrees(math.atan2(axis[1], axis[0])))
    angle = min(angle, 180.0 - angle) if angle > 90.0 else angle
    roll = _clip01(1.0 - angle / ROLL_MAX_DEG)
    return yaw, pitch, roll


def quality_factors(image: Image, face: Face) -> dict[str, float]:
    """The four factors of :func:`face_quality`, each in 0..1."""
    side = min(face.width, face.height)
    size = _clip01((side - SIZE_MIN_PX) / (SIZE_GOOD_PX - SIZE_MIN_PX))
    v = sharpness(align_face(image, face))
    yaw, pitch, roll = pose_factors(face)
    return {
        "size": size,
        "sharpness": v / (v + SHARP_HALF),
        "pose": yaw * pitch * roll,
        "detector": _clip01(face.score),
    }


def face_quality(image: Image, face: Face) -> float:
    """Face quality in 0..1 (see the module docstring for the formula)."""
    factors = quality_factors(image, face)
    log_q = sum(WEIGHTS[k] * math.log(max(v, 1e-3)) for k, v in factors.items())
    return float(min(1.0, math.exp(log_q)))
