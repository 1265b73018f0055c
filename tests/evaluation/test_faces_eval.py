"""The face stages of ``cctrace eval``: metric math, mask warp, box matching, a real run."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest

from cctrace.evaluation import faces as F
from cctrace.evaluation.metrics import EvalContext, Metric
from cctrace.types import Face
from cctrace.vision.face import face_from_row
from cctrace.vision.quality import ARCFACE_TEMPLATE_112

# --------------------------------------------------------------------------- metric math


def _brute_auc(genuine: np.ndarray, impostor: np.ndarray) -> float:
    wins = sum(
        1.0 if g > i else 0.5 if g == i else 0.0 for g, i in itertools.product(genuine, impostor)
    )
    return wins / (len(genuine) * len(impostor))


def test_auc_known_values() -> None:
    assert F.roc_auc([0.6, 0.9], [0.1, 0.5]) == 1.0
    assert F.roc_auc([0.1, 0.2], [0.5, 0.6]) == 0.0
    assert F.roc_auc([0.3, 0.3], [0.3]) == 0.5
    # 0.1 beats nothing, 0.4 beats two, 0.35 beats one and ties one, 0.8 beats three.
    assert F.roc_auc([0.1, 0.4, 0.35, 0.8], [0.2, 0.35, 0.5]) == pytest.approx(6.5 / 12)
    assert math.isnan(F.roc_auc([], [0.1]))


def test_auc_matches_brute_force_with_ties() -> None:
    rng = np.random.default_rng(7)
    genuine = rng.integers(0, 20, 57) / 20  # coarse values: many ties
    impostor = rng.integers(0, 14, 83) / 20
    assert F.roc_auc(genuine, impostor) == pytest.approx(_brute_auc(genuine, impostor))


def test_threshold_at_far_allows_floor_far_n_impostors() -> None:
    impostor = np.arange(1000) / 1000  # 0.000 .. 0.999
    t2 = F.threshold_at_far(impostor, 1e-2)
    assert 0.989 < t2 <= 0.990
    assert F.rates_at([], impostor, t2)[1] == pytest.approx(0.01)  # 0.990 .. 0.999
    assert F.rates_at([], impostor, 0.989)[1] > 0.01  # one step lower is too many
    t3 = F.threshold_at_far(impostor, 1e-3)
    assert F.rates_at([], impostor, t3)[1] == pytest.approx(0.001)  # only 0.999


def test_threshold_at_far_below_one_over_n_is_above_every_impostor() -> None:
    impostor = np.linspace(-0.1, 0.42, 380)
    t = F.threshold_at_far(impostor, 1e-3)  # 0.38 impostors allowed: none
    assert t > impostor.max()
    assert F.rates_at([], impostor, t)[1] == 0.0


def test_tar_at_far_and_accuracy() -> None:
    impostor = np.arange(1000) / 1000
    tar, t = F.tar_at_far([0.5, 0.9, 0.995], impostor, 1e-2)
    assert tar == pytest.approx(1 / 3) and 0.989 < t <= 0.990
    assert F.rates_at([0.6, 0.4], [0.1, 0.55], 0.5) == (0.5, 0.5)
    # 0.6 accepted (right), 0.4 rejected (wrong), 0.1 rejected (right), 0.55 accepted (wrong)
    assert F.accuracy_at([0.6, 0.4], [0.1, 0.55], 0.5) == 0.5
    assert F.accuracy_at([0.6, 0.7], [0.1, 0.2, 0.3], 0.5) == 1.0


# --------------------------------------------------------------------------- mask warp


def _face(landmarks: list[tuple[float, float]]) -> Face:
    pts = np.asarray(landmarks, np.float32)
    x0, y0 = np.subtract(pts.min(0), (20, 30))
    x1, y1 = np.add(pts.max(0), (20, 25))
    return face_from_row(np.r_[x0, y0, x1 - x0, y1 - y0, pts.reshape(-1), 0.9])


# Landmarks in exactly the ArcFace template's proportions, scaled 1.2x and shifted: eyes
# at y 92.0, nose tip at y 116.1, mouth corners at y 140.8.
UPRIGHT = [(float(x), float(y)) for x, y in ARCFACE_TEMPLATE_112 * 1.2 + (40.0, 30.0)]
EYE_Y, NOSE_Y, MOUTH_Y = UPRIGHT[0][1], UPRIGHT[2][1], UPRIGHT[3][1]
RED_TEXTURE = np.full((60, 120, 3), (0, 0, 255), np.uint8)
RED = (0, 0, 255)


def _changed(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    return np.asarray(np.any(before != after, axis=2))


@pytest.mark.parametrize(
    ("top", "highest"),
    # (2 px of slack: the patch's edge is blended over about one pixel)
    [(F.MASK_TOP_BELOW_NOSE, NOSE_Y - 2.0), (F.MASK_TOP_OVER_NOSE, EYE_Y + 1.0)],
)
def test_mask_lands_on_the_lower_face(top: float, highest: float) -> None:
    image = np.full((240, 220, 3), 128, np.uint8)
    face = _face(UPRIGHT)
    out = F.apply_mask(image, face, RED_TEXTURE, top)
    changed = _changed(image, out)
    ys, xs = np.nonzero(changed)
    assert len(ys) > 2000  # a real patch, not a few pixels
    assert ys.min() >= highest  # below the nose tip / below the eyes
    assert ys.max() <= MOUTH_Y + 50  # down to the chin, not the neck
    assert xs.min() >= 40 and xs.max() <= 180  # cheek to cheek, not the whole row
    mouth_x = (UPRIGHT[3][0] + UPRIGHT[4][0]) / 2
    for x, y in [(mouth_x, MOUTH_Y), UPRIGHT[3], UPRIGHT[4], (mouth_x, MOUTH_Y + 20)]:
        assert tuple(out[round(y), round(x)]) == RED, (x, y)  # mouth and chin covered
    for x, y in UPRIGHT[:2]:  # eyes untouched
        assert not changed[round(y), round(x)]
    assert not np.shares_memory(out, image) and (image == 128).all()


def test_mask_over_nose_covers_the_nose_tip_and_below_nose_does_not() -> None:
    image = np.full((240, 220, 3), 128, np.uint8)
    face = _face(UPRIGHT)
    over = F.apply_mask(image, face, RED_TEXTURE, F.MASK_TOP_OVER_NOSE)
    below = F.apply_mask(image, face, RED_TEXTURE, F.MASK_TOP_BELOW_NOSE)
    x, y = round(UPRIGHT[2][0]), round(NOSE_Y) - 4  # just above the nose tip
    assert tuple(over[y, x]) == RED
    assert tuple(below[y, x]) == (128, 128, 128)


def test_mask_follows_a_rolled_face() -> None:
    angle = np.radians(30)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    centre = np.array([110.0, 115.0])
    pts = (np.asarray(UPRIGHT) - centre) @ rot.T + centre
    image = np.full((260, 260, 3), 128, np.uint8)
    out = F.apply_mask(image, _face([tuple(p) for p in pts]), RED_TEXTURE, F.MASK_TOP_BELOW_NOSE)
    changed = _changed(image, out)
    mouth = (pts[3] + pts[4]) / 2
    assert tuple(out[round(mouth[1]), round(mouth[0])]) == RED
    down = rot @ np.array([0.0, 1.0])  # the face's own "down"
    for x, y in pts[:3] - 3 * down:  # just above the eyes and the nose tip: untouched
        assert not changed[round(y), round(x)]
    # Every changed pixel is on the chin side of the rolled nose-tip line, so the patch
    # turned with the face (an upright patch would poke above the line on one side).
    ys, xs = np.nonzero(changed)
    depth = (np.c_[xs, ys] - pts[2]) @ down
    assert len(ys) > 2000 and depth.min() >= -2.5


def test_degrade_shrinks_and_maps_the_face() -> None:
    image = np.full((400, 300, 3), 90, np.uint8)
    face = _face([(130.0, 150.0), (170.0, 150.0), (150.0, 175.0), (135.0, 195.0), (165.0, 195.0)])
    photo = F.Photo("x.jpg", "a", image, face)
    cond = F.Condition("t", face_px=24, jpeg_quality=30, gamma=2.5)
    out, mapped = F.degrade(photo, cond)
    assert out.shape[0] >= F.CANVAS_PX and out.shape[1] >= F.CANVAS_PX
    assert mapped.width == pytest.approx(24, abs=0.01)
    assert 0 <= mapped.xyxy[0] < mapped.xyxy[2] <= out.shape[1]
    cx, cy = (mapped.xyxy[0] + mapped.xyxy[2]) / 2, (mapped.xyxy[1] + mapped.xyxy[3]) / 2
    assert out[round(cy), round(cx)].mean() < 40  # darkened: 90 -> about 19
    with pytest.raises(ValueError, match="texture"):
        F.degrade(photo, F.MASKED)


def test_assign_textures_is_deterministic_and_subset_stable() -> None:
    names = [f"img{i}.jpg" for i in range(40)]
    a = F.assign_textures(names)
    assert a == F.assign_textures(list(reversed(names)))
    assert set(a.values()) == set(F.MASK_TEXTURES)
    assert a != F.assign_textures(names, seed=F.SEED + 1)


# --------------------------------------------------------------------------- box matching


def test_match_faces_is_one_to_one_with_ignore_regions() -> None:
    gt = [[0, 0, 10, 10], [20, 0, 30, 10]]
    det = [
        [0, 0, 10, 10],  # exact: TP
        [1, 0, 11, 10],  # second detection of the same face: FP
        [20, 0, 31, 11],  # TP
        [50, 50, 60, 60],  # nothing there: FP
        [101, 101, 104, 104],  # inside the ignore region: neither
    ]
    result = F.match_faces(det, gt, ignore=[[100, 100, 110, 110]])
    assert result.matched.tolist() == [True, True]
    assert (result.true_positives, result.false_positives) == (2, 2)
    low = F.match_faces([[0, 0, 10, 10]], [[0, 0, 10, 30]])  # IoU 1/3
    assert low.matched.tolist() == [False] and low.false_positives == 1
    assert F.match_faces([], gt).matched.tolist() == [False, False]


def test_read_voc_sets_tiny_faces_aside(tmp_path: Path) -> None:
    xml = tmp_path / "a.xml"
    xml.write_text(
        "<annotation><filename>a.jpg</filename>"
        "<object><name>with_mask</name><bndbox><xmin>10</xmin><ymin>10</ymin>"
        "<xmax>60</xmax><ymax>70</ymax></bndbox></object>"
        "<object><name>without_mask</name><bndbox><xmin>100</xmin><ymin>10</ymin>"
        "<xmax>110</xmax><ymax>22</ymax></bndbox></object></annotation>"
    )
    item = F.read_voc(xml, tmp_path, min_face_px=16)
    assert item.path == tmp_path / "a.jpg"
    assert item.labels == ("with_mask",)
    assert item.boxes.tolist() == [[10, 10, 60, 70]]
    assert item.ignore.tolist() == [[100, 10, 110, 22]]


# --------------------------------------------------------------------------- real data


def test_labelled_pairs_are_distinct_and_consistent(shared_data: Path) -> None:
    rows = F.read_pairs(shared_data / "faces" / "deepface")
    assert len(rows) == 520
    assert sum(s for _, _, s in rows) == 140
    assert len({frozenset((a, b)) for a, b, _ in rows}) == 520


def test_group_annotations_match_their_images(shared_data: Path) -> None:
    import cv2

    try:
        items = F.load_group_annotations(shared_data)
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    assert len(items) == 7 and sum(len(i.boxes) for i in items) == 21
    for item in items:
        image = cv2.imread(str(item.path))
        assert image is not None
        h, w = image.shape[:2]
        boxes = item.boxes
        assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= w).all()
        assert (boxes[:, 1] >= 0).all() and (boxes[:, 3] <= h).all()
        assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()


def test_real_textures_are_masks() -> None:
    try:
        textures = F.load_mask_textures()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    assert set(textures) == set(F.MASK_TEXTURES)
    for image in textures.values():
        h, w = image.shape[:2]
        assert w > h > 50  # wider than tall, like a surgical mask


@pytest.mark.slow
def test_quick_run_gives_sane_numbers(shared_data: Path, tmp_path: Path) -> None:
    try:
        F.mask_texture_paths()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    ctx = EvalContext(data_root=shared_data, workdir=tmp_path, quick=True, threads=1)
    verification = F.evaluate_verification(ctx)
    detection = F.evaluate_detection(ctx)
    by_name: dict[str, Metric] = {m.name: m for m in verification + detection}
    assert len(by_name) == len(verification) + len(detection)  # names are unique
    assert {m.stage for m in verification} == {"faces"}
    assert {m.stage for m in detection} == {"face-detection"}
    for cond in F.QUICK_CONDITIONS:
        for metric in ("auc", "tar@far1e-2", "tar@far1e-3", "tar@accept", "far@accept"):
            assert f"{metric} {cond}" in by_name
    assert {"recall masked", "recall bare", "precision", "recall group"} <= set(by_name)

    def value(name: str) -> float:
        return by_name[name].value

    assert by_name["auc clean"].n == 520
    assert value("auc clean") >= 0.99
    assert value("tar@far1e-3 clean") >= 0.9
    for cond in F.QUICK_CONDITIONS:
        assert value(f"far@accept {cond}") <= 1e-3, cond
        assert 0.5 <= value(f"auc {cond}") <= 1.0
    # The degradations must bite: a mask or a 24 px face costs accepted matches.
    assert value("tar@accept masked") < value("tar@accept clean") - 0.05
    assert value("tar@accept 24px") < value("tar@accept clean")
    assert value("detected 24px") >= 0.9
    assert value("recall bare") >= 0.9 and value("recall masked") >= 0.85
    assert value("precision") >= 0.9 and value("recall group") >= 0.85
    assert all(m.condition for m in verification + detection)
