"""Redaction: blurred regions lose all detail, the subject stays untouched."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from cctrace.privacy.redaction import (
    blur_boxes,
    crop_with_context,
    head_region,
    redact_snapshot,
)


def textured(h: int = 240, w: int = 320, channels: int = 3, seed: int = 0) -> np.ndarray:
    """A detailed image: noise over stripes, so blurring shows in the Laplacian."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(h, w, channels), dtype=np.uint8)
    stripes = ((np.arange(w)[None, :] // 3) % 2 * 80).astype(np.uint8)
    out = np.clip(base.astype(np.int16) // 2 + stripes[..., None], 0, 255).astype(np.uint8)
    return out if channels > 1 else out[..., 0]


def detail(img: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """Laplacian variance inside a box: high for sharp detail, ~0 when blurred."""
    x1, y1, x2, y2 = box
    region = img[y1:y2, x1:x2]
    gray = cv2.cvtColor(region, cv2.COLOR_BGR2GRAY) if region.ndim == 3 else region
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


@pytest.mark.parametrize("strength", [1.0, 0.6, 0.2])
def test_blur_removes_detail_and_leaves_the_rest(strength: float) -> None:
    img = textured()
    before = img.copy()
    box = (100, 60, 180, 160)
    out = blur_boxes(img, [box], strength)
    assert np.array_equal(img, before), "input must not be mutated"
    assert out is not img
    assert detail(out, box) < 0.05 * detail(img, box)
    # Away from the (slightly expanded) box nothing changes.
    mask = np.ones(img.shape[:2], bool)
    mask[40:180, 80:200] = False
    assert np.array_equal(out[mask], img[mask])


def test_stronger_blur_keeps_less_detail() -> None:
    img = textured()
    box = (40, 40, 240, 200)
    weak = detail(blur_boxes(img, [box], 0.1), box)
    strong = detail(blur_boxes(img, [box], 1.0), box)
    assert strong <= weak


def test_blur_expands_the_box_a_little() -> None:
    img = textured()
    out = blur_boxes(img, [(100, 100, 200, 200)], expand=0.1)
    # 10 px outside the box on each side is inside the expanded region.
    assert not np.array_equal(out[92:96, 120:180], img[92:96, 120:180])
    assert np.array_equal(out[:85], img[:85])
    unexpanded = blur_boxes(img, [(100, 100, 200, 200)], expand=0.0)
    assert np.array_equal(unexpanded[:100], img[:100])


@pytest.mark.parametrize(
    ("box", "changed"),
    [
        ((-50, -40, 60, 70), (0, 0, 60, 70)),  # off the top-left corner
        ((280, 200, 500, 400), (280, 200, 320, 240)),  # off the bottom-right corner
        ((-10, 100, 400, 120), (0, 100, 320, 120)),  # wider than the image
    ],
)
def test_boxes_partly_out_of_bounds_are_clipped(
    box: tuple[float, float, float, float], changed: tuple[int, int, int, int]
) -> None:
    img = textured()
    out = blur_boxes(img, [box], expand=0.0)
    assert out.shape == img.shape
    assert detail(out, changed) < 0.1 * detail(img, changed)


@pytest.mark.parametrize(
    "boxes",
    [
        [],
        np.zeros((0, 4)),
        [(400, 300, 500, 400)],  # wholly outside
        [(-100, -100, -10, -10)],  # wholly outside, negative
        [(50, 50, 40, 80)],  # x2 < x1
        [(50, 50, 50, 80)],  # zero width
        [(math.nan, 0, 10, 10)],
    ],
)
def test_no_op_boxes_return_an_equal_copy(boxes: object) -> None:
    img = textured()
    out = blur_boxes(img, boxes)  # type: ignore[arg-type]
    assert out is not img
    assert np.array_equal(out, img)


def test_grayscale_and_single_box_forms() -> None:
    img = textured(channels=1)
    out = blur_boxes(img, np.array([10, 10, 90, 90]))
    assert out.shape == img.shape
    assert detail(out, (10, 10, 90, 90)) < 0.05 * detail(img, (10, 10, 90, 90))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"boxes": [(1, 2, 3)]}, "boxes must be"),
        ({"boxes": [(0, 0, 5, 5)], "strength": 0.0}, "strength"),
        ({"boxes": [(0, 0, 5, 5)], "strength": 1.5}, "strength"),
        ({"boxes": [(0, 0, 5, 5)], "expand": -0.1}, "expand"),
    ],
)
def test_bad_arguments_raise(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        blur_boxes(textured(), **kwargs)  # type: ignore[arg-type]


def test_empty_image_raises() -> None:
    with pytest.raises(ValueError, match="image"):
        blur_boxes(np.zeros((0, 0, 3), np.uint8), [])


# -- redact_snapshot -------------------------------------------------------------

SUBJECT = (20.0, 20.0, 120.0, 230.0)
SUBJECT_FACE = (50.0, 28.0, 90.0, 70.0)
BYSTANDER = (200.0, 30.0, 290.0, 230.0)
BYSTANDER_FACE = (225.0, 38.0, 265.0, 78.0)
SMALL_BYSTANDER = (160.0, 120.0, 190.0, 200.0)  # too small for a face detector


def _ints(box: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
    return (round(box[0]), round(box[1]), round(box[2]), round(box[3]))


def test_redact_blurs_bystanders_and_keeps_the_subject() -> None:
    img = textured()
    before = img.copy()
    out = redact_snapshot(
        img,
        SUBJECT,
        [SUBJECT_FACE, BYSTANDER_FACE],
        [SUBJECT, BYSTANDER, SMALL_BYSTANDER],
    )
    assert np.array_equal(img, before)
    x1, y1, x2, y2 = _ints(SUBJECT)
    assert np.array_equal(out[y1:y2, x1:x2], img[y1:y2, x1:x2])
    for region in (BYSTANDER_FACE, head_region(SMALL_BYSTANDER)):
        box = _ints(region)
        assert detail(out, box) < 0.05 * detail(img, box), region
    # The bystander's body below the head is left alone.
    assert np.array_equal(out[150:230, 200:290], img[150:230, 200:290])


def test_only_one_face_inside_the_subject_box_is_kept() -> None:
    img = textured()
    lower_face = (60.0, 140.0, 95.0, 175.0)  # someone in front of the subject, lower down
    out = redact_snapshot(img, SUBJECT, [lower_face, SUBJECT_FACE], [])
    assert np.array_equal(out[28:70, 50:90], img[28:70, 50:90])
    assert detail(out, _ints(lower_face)) < 0.05 * detail(img, _ints(lower_face))


def test_duplicate_detection_of_the_subjects_face_is_kept() -> None:
    img = textured()
    duplicate = (52.0, 30.0, 91.0, 72.0)
    out = redact_snapshot(img, SUBJECT, [SUBJECT_FACE, duplicate], [SUBJECT])
    x1, y1, x2, y2 = _ints(SUBJECT)
    assert np.array_equal(out[y1:y2, x1:x2], img[y1:y2, x1:x2])


def test_person_box_overlapping_the_subject_is_the_subject() -> None:
    img = textured()
    near_duplicate = (25.0, 22.0, 122.0, 228.0)
    out = redact_snapshot(img, SUBJECT, [], [near_duplicate])
    assert np.array_equal(out, img)


def test_faces_are_blurred_when_the_subject_shows_no_face() -> None:
    img = textured()
    out = redact_snapshot(img, SUBJECT, [BYSTANDER_FACE], [])
    assert detail(out, _ints(BYSTANDER_FACE)) < 0.05 * detail(img, _ints(BYSTANDER_FACE))


def test_redact_with_nothing_to_hide_is_a_copy() -> None:
    img = textured()
    out = redact_snapshot(img, SUBJECT, [], [])
    assert out is not img
    assert np.array_equal(out, img)


def test_redact_handles_out_of_bounds_boxes() -> None:
    img = textured()
    out = redact_snapshot(
        img, SUBJECT, [(300.0, -20.0, 360.0, 40.0)], [(290.0, -30.0, 400.0, 300.0)]
    )
    assert out.shape == img.shape
    assert detail(out, (300, 0, 320, 40)) < 0.1 * detail(img, (300, 0, 320, 40))


def test_redact_rejects_several_subject_boxes() -> None:
    with pytest.raises(ValueError, match="one box"):
        redact_snapshot(textured(), [SUBJECT, BYSTANDER], [], [])


def test_head_region_is_the_widened_top_of_the_box() -> None:
    x1, y1, x2, y2 = head_region((100.0, 100.0, 200.0, 300.0))
    assert x1 < 100 and x2 > 200
    assert y1 <= 100
    assert y2 == pytest.approx(100 + 0.22 * 200)


# -- crop_with_context ------------------------------------------------------------


def test_crop_keeps_the_box_pixels() -> None:
    img = textured(480, 640)
    box = (200.0, 100.0, 260.0, 220.0)
    crop, (bx1, by1, bx2, by2) = crop_with_context(img, box, margin=0.5, min_size=32)
    assert crop.shape[:2] == (240, 120)
    assert (bx2 - bx1, by2 - by1) == (60, 120)
    assert np.array_equal(crop[int(by1) : int(by2), int(bx1) : int(bx2)], img[100:220, 200:260])
    crop[:] = 0
    assert img.any(), "the crop must be a copy"


@pytest.mark.parametrize(
    ("box", "min_size", "expected_hw"),
    [
        ((0.0, 0.0, 20.0, 40.0), 96, (96, 96)),  # shifted into the image
        ((620.0, 460.0, 640.0, 480.0), 96, (96, 96)),
        ((300.0, 200.0, 310.0, 210.0), 2000, (480, 640)),  # larger than the image
        ((-30.0, -30.0, 30.0, 30.0), 8, (120, 120)),  # partly outside: shifted in
    ],
)
def test_crop_min_size_and_edges(
    box: tuple[float, float, float, float], min_size: int, expected_hw: tuple[int, int]
) -> None:
    img = textured(480, 640)
    crop, (bx1, by1, bx2, by2) = crop_with_context(img, box, margin=0.5, min_size=min_size)
    assert crop.shape[:2] == expected_hw
    assert 0 <= bx1 < bx2 <= crop.shape[1]
    assert 0 <= by1 < by2 <= crop.shape[0]


@pytest.mark.parametrize(
    ("box", "kwargs"),
    [
        ((700.0, 10.0, 800.0, 100.0), {}),
        ((10.0, 10.0, 5.0, 50.0), {}),
        ((10.0, 10.0, 50.0, 50.0), {"margin": -1.0}),
        ((10.0, 10.0, 50.0, 50.0), {"min_size": 0}),
    ],
)
def test_crop_bad_input_raises(
    box: tuple[float, float, float, float], kwargs: dict[str, float]
) -> None:
    with pytest.raises(ValueError):
        crop_with_context(textured(480, 640), box, **kwargs)  # type: ignore[arg-type]


def test_explicit_subject_face_is_kept_and_never_blurred() -> None:
    img = textured()
    overlapping = (70.0, 20.0, 110.0, 60.0)  # a bystander's face partly over the subject's
    out = redact_snapshot(img, SUBJECT, [overlapping, SUBJECT_FACE], [], subject_face=SUBJECT_FACE)
    x1, y1, x2, y2 = _ints(SUBJECT_FACE)
    assert np.array_equal(out[y1:y2, x1:x2], img[y1:y2, x1:x2])
    # The part of the bystander's face outside the subject's face is blurred.
    assert detail(out, (91, 20, 110, 60)) < 0.1 * detail(img, (91, 20, 110, 60))


def test_two_faces_in_the_subjects_head_are_both_blurred() -> None:
    """Two faces in one head region: neither is surely the subject's (one is someone
    else's and nothing says which), so both are blurred, whatever their order."""
    img = textured()
    a = (40.0, 25.0, 70.0, 55.0)
    b = (75.0, 30.0, 105.0, 60.0)
    for order in ([b, a], [a, b]):
        out = redact_snapshot(img, SUBJECT, order, [])
        for box in ((40, 25, 70, 55), (75, 30, 105, 60)):
            assert detail(out, box) < 0.1 * detail(img, box)


def test_overlapping_boxes_leave_no_sharp_step_inside_their_union() -> None:
    """Two heads that overlap are blurred as one region: blurring one after the other
    left the second box's edge as a sharp step across the first (a face there kept
    visible detail in a real contact picture)."""
    img = np.zeros((240, 320, 3), np.uint8)
    img[:, 160:] = 255  # a dark and a bright side: the two boxes' cells differ
    first, second = (100, 60, 170, 140), (140, 90, 210, 170)
    out = blur_boxes(img, [first, second], expand=0.0)
    assert detail(out, first) < 0.01 * detail(img, first)  # was 0.025 before the fix
    union_only = np.zeros(img.shape[:2], bool)
    union_only[60:140, 100:170] = True
    union_only[90:170, 140:210] = True
    assert np.array_equal(out[~union_only], img[~union_only])  # nothing outside the union
