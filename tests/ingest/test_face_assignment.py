"""A face goes to a person only when it is surely in that person's head region."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cctrace.ingest.camera import PSEUDO_PERSON_MIN_FACE_SCORE, _add_pseudo_persons
from cctrace.ingest.face_assignment import (
    FaceFate,
    assign_faces,
    faces_outside_heads,
    head_region_of,
)
from cctrace.tracking.tracker import HIGH_CONFIDENCE
from cctrace.types import Detections, Faces

A = (100.0, 100.0, 160.0, 300.0)  # full body, 60 x 200
B = (150.0, 105.0, 210.0, 305.0)  # its neighbour, boxes overlapping by 10 px
FAR = (400.0, 100.0, 460.0, 300.0)
CLOSE_UP = (100.0, 50.0, 300.0, 250.0)  # head and shoulders


def _face(cx: float, cy: float, w: float = 20.0) -> tuple[float, float, float, float]:
    return (cx - w / 2, cy - w / 2, cx + w / 2, cy + w / 2)


@pytest.mark.parametrize(
    ("persons", "faces", "expected"),
    [
        # centred in one head: that person's
        ([A, FAR], [_face(130, 115)], {0: 0}),
        ([A, FAR], [_face(430, 115)], {0: 1}),
        # between two side-by-side heads (on A's ear, inside B's region): nobody's
        ([A, B], [_face(153, 118)], {}),
        # near the edge of the only head region: nobody's
        ([A], [_face(148, 118)], {}),
        # well below the head (a person in front, a bag): nobody's
        ([A], [_face(130, 200)], {}),
        # two faces in one head: neither is surely the person's
        ([A], [_face(125, 115, 12), _face(138, 122, 12)], {}),
        # the same face detected twice (IoU > 0.25): the first (best) is the person's
        ([A], [_face(130, 115), _face(132, 117)], {0: 0}),
        # a face as tall as half the body is not this body's face
        ([A], [(110.0, 90.0, 160.0, 200.0)], {}),
        # a close-up box holds its face anywhere in its upper part
        ([CLOSE_UP], [_face(200, 120, 60)], {0: 0}),
        ([], [_face(200, 120, 60)], {}),
    ],
)
def test_assignment_table(
    persons: list[tuple[float, ...]], faces: list[tuple[float, ...]], expected: dict[int, int]
) -> None:
    result = assign_faces(np.asarray(persons).reshape(-1, 4), Faces.boxes_only(faces))
    assert result.rows == expected
    assert (
        faces_outside_heads(
            np.asarray(persons).reshape(-1, 4), Faces.boxes_only(faces), result.rows
        )
        == 0
    )


@pytest.mark.parametrize(
    ("face", "fate"),
    [
        (_face(130, 115), FaceFate.ASSIGNED),
        (_face(153, 118), FaceFate.AMBIGUOUS),
        (_face(600, 400), FaceFate.NO_PERSON),
    ],
)
def test_fates(face: tuple[float, ...], fate: FaceFate) -> None:
    result = assign_faces(np.asarray([A, B]), Faces.boxes_only([face]))
    assert result.fates == (fate,)


def test_an_untracked_neighbour_makes_a_face_ambiguous_but_never_receives_it() -> None:
    faces = Faces.boxes_only([_face(153, 118)])
    alone = assign_faces(np.asarray([A]), Faces.boxes_only([_face(130, 115)]), np.asarray([B]))
    assert alone.rows == {0: 0}
    result = assign_faces(np.asarray([A]), faces, np.asarray([B]))
    assert result.rows == {} and result.fates == (FaceFate.AMBIGUOUS,)
    # B's own face, with B untracked: not A's, and nobody's.
    result = assign_faces(np.asarray([A]), Faces.boxes_only([_face(180, 122)]), np.asarray([B]))
    assert result.rows == {}


def test_random_scenes_never_put_a_face_outside_the_assigned_head() -> None:
    rng = np.random.default_rng(7)
    assigned = 0
    for _ in range(300):
        n = int(rng.integers(1, 6))
        x = rng.uniform(0, 600, n)
        y = rng.uniform(0, 300, n)
        w = rng.uniform(30, 90, n)
        h = w * rng.uniform(1.0, 3.5, n)
        persons = np.stack([x, y, x + w, y + h], axis=1)
        fx, fy = rng.uniform(0, 700, 6), rng.uniform(0, 500, 6)
        fw = rng.uniform(8, 40, 6)
        faces = Faces.boxes_only(np.stack([fx, fy, fx + fw, fy + fw], axis=1))
        result = assign_faces(persons, faces)
        assert faces_outside_heads(persons, faces, result.rows) == 0
        assert len(set(result.rows.values())) == len(result.rows)  # one face per person
        for i, row in result.rows.items():
            cx, cy = faces.centres[i]
            others = [head_region_of(p) for j, p in enumerate(persons) if j != row]
            assert not any(r[0] <= cx <= r[2] and r[1] <= cy <= r[3] for r in others)
        assigned += len(result.rows)
    assert assigned > 20  # the check is not vacuous


def _faces(*boxes: tuple[float, ...], score: float = 0.9) -> Faces:
    return Faces.boxes_only(boxes, np.full(len(boxes), score))


def test_an_ambiguous_confident_face_raises_no_box_and_adds_none() -> None:
    persons = Detections.create([A, B], [0.5, 0.55])
    out = _add_pseudo_persons(persons, _faces(_face(153, 118)), 768, 576)
    assert len(out) == 2
    assert out.confidence.tolist() == pytest.approx([0.5, 0.55])


def test_a_surely_assigned_confident_face_raises_only_its_box() -> None:
    persons = Detections.create([A, B], [0.5, 0.55])
    out = _add_pseudo_persons(persons, _faces(_face(130, 115)), 768, 576)
    assert out.confidence[0] >= HIGH_CONFIDENCE and out.confidence[1] == pytest.approx(0.55)
    weak = _faces(_face(130, 115), score=PSEUDO_PERSON_MIN_FACE_SCORE - 0.1)
    assert _add_pseudo_persons(persons, weak, 768, 576).confidence[0] == pytest.approx(0.5)


# -- real photo: people side by side, one face visible ---------------------------


def t1_path() -> Path:
    """The insightface wheel's group photo (6 faces); skips when not installed."""
    from importlib import metadata

    try:
        dist = metadata.distribution("insightface")
    except metadata.PackageNotFoundError:
        pytest.skip("the insightface wheel (which ships t1.jpg) is not installed")
    return Path(str(dist.locate_file("insightface/data/images/t1.jpg")))


def _t1() -> np.ndarray:
    import cv2

    path = t1_path()
    if not path.is_file():
        pytest.skip(f"{path} not found")
    image = cv2.imread(str(path))
    if image is None:
        pytest.skip(f"cannot read {path}")
    return np.asarray(image, np.uint8)


@pytest.fixture(scope="module")
def models():  # type: ignore[no-untyped-def]
    from cctrace.ingest.models import ModelSet

    try:
        m = ModelSet()
        _ = m.person_detector, m.face_detector
    except Exception as exc:
        pytest.skip(f"models unavailable: {exc}")
    return m


def test_side_by_side_people_one_face_visible_goes_to_its_person_or_nobody(models) -> None:  # type: ignore[no-untyped-def]
    """t1.jpg (insightface): people stand side by side, boxes overlapping. Each face
    in turn is the only one left visible (the others are covered, as a turned head
    would be); detectors run on that real image; the face must go to the person whose
    box is centred on it, or to nobody, never to a neighbour."""
    image = _t1()
    all_faces = Faces.from_faces(models.face_detector.detect(image))
    assert len(all_faces) >= 5
    outcomes = []
    for keep in range(len(all_faces)):
        img = image.copy()
        for j, (x1, y1, x2, y2) in enumerate(all_faces.xyxy.astype(int)):
            if j != keep:
                img[max(0, y1 - 10) : y2 + 10, max(0, x1 - 10) : x2 + 10] = (90, 90, 90)
        persons = models.person_detector.detect(img)
        faces = Faces.from_faces(models.face_detector.detect(img))
        result = assign_faces(persons, faces)
        assert faces_outside_heads(persons, faces, result.rows) == 0
        for i, row in result.rows.items():
            cx, cy = faces.centres[i]
            holding = [
                r
                for r, (x1, y1, x2, y2) in enumerate(persons.xyxy)
                if x1 <= cx <= x2 and y1 <= cy <= y2
            ]
            owner = min(
                holding, key=lambda r: abs((persons.xyxy[r, 0] + persons.xyxy[r, 2]) / 2 - cx)
            )
            assert row == owner, f"face {i} given to person {row}, its person is {owner}"
        outcomes.append(len(result.rows))
    assert sum(outcomes) >= 2  # most visible faces do find their person


@pytest.mark.parametrize(
    ("box", "face", "width", "assigned"),
    [
        # a seated person cut off by the left border: the head need not be centred
        ((0.0, 216.0, 206.0, 676.0), (0.0, 256.0, 64.0, 320.0), 1024, True),
        # the same box away from the border: a face at its side is not its face
        ((50.0, 216.0, 256.0, 676.0), (50.0, 256.0, 114.0, 320.0), 1024, False),
        # cut off by the right border (known from the frame reference)
        ((818.0, 216.0, 1024.0, 676.0), (960.0, 256.0, 1024.0, 320.0), 1024, True),
        # ... and with the frame width unknown, the right border is not assumed
        ((818.0, 216.0, 1024.0, 676.0), (960.0, 256.0, 1024.0, 320.0), 0, False),
    ],
)
def test_boxes_cut_off_by_the_image_border(
    box: tuple[float, ...], face: tuple[float, ...], width: int, assigned: bool
) -> None:
    from cctrace.types import FrameRef

    faces = Faces.boxes_only([face], frame=FrameRef("cam", 0, width, 768))
    result = assign_faces(np.asarray([box]), faces)
    assert (result.rows == {0: 0}) is assigned
    assert faces_outside_heads(np.asarray([box]), faces, result.rows) == 0
