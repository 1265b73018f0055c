"""``Faces``: a frozen, truly immutable container of one frame's faces."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from cctrace.types import Face, Faces, FrameRef

ROWS = np.array(
    [
        [10, 20, 30, 40, 15, 30, 30, 30, 22, 40, 17, 50, 28, 50, 0.9],
        [100, 50, 20, 24, 104, 58, 114, 58, 109, 64, 105, 69, 113, 69, 0.7],
    ],
    np.float32,
)


def test_rows_round_trip_and_faces_index_as_face_values() -> None:
    faces = Faces.from_yunet_rows(ROWS, FrameRef("cam1", 7))
    assert len(faces) == 2 and faces.frame == FrameRef("cam1", 7)
    assert np.array_equal(faces.yunet_rows(), ROWS)
    first = faces[0]
    assert isinstance(first, Face) and first.xyxy == (10.0, 20.0, 40.0, 60.0)
    assert np.array_equal(first.raw, ROWS[0])
    assert Faces.from_faces(list(faces), faces.frame) == faces


@pytest.mark.parametrize("name", ["xyxy", "landmarks", "score", "embedding"])
def test_arrays_are_read_only_copies(name: str) -> None:
    source = ROWS.copy()
    faces = Faces.from_yunet_rows(source).with_embeddings(np.eye(2, 4, dtype=np.float32))
    arr = getattr(faces, name)
    with pytest.raises(ValueError, match="read-only"):
        arr[0] = 0
    source[:] = 0  # the container kept its own copy
    assert faces.score[0] == pytest.approx(0.9)


def test_frozen_fields_and_face_raw_are_immutable() -> None:
    faces = Faces.from_yunet_rows(ROWS)
    with pytest.raises(AttributeError):
        faces.score = np.zeros(2, np.float32)  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        faces[0].raw[0] = 1


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        (Faces.from_yunet_rows(ROWS), Faces.from_yunet_rows(ROWS.copy()), True),
        (Faces.from_yunet_rows(ROWS), Faces.from_yunet_rows(ROWS[:1]), False),
        (Faces.from_yunet_rows(ROWS), Faces.from_yunet_rows(ROWS, FrameRef("c", 1)), False),
        (Faces.empty(), Faces.from_faces([]), True),
        (
            Faces.from_yunet_rows(ROWS),
            Faces.from_yunet_rows(ROWS).with_embeddings(np.ones((2, 3))),
            False,
        ),
    ],
)
def test_equality_compares_contents_and_never_raises(a: Faces, b: Faces, equal: bool) -> None:
    assert (a == b) is equal
    assert (a != b) is not equal
    assert a != "faces"
    with pytest.raises(TypeError):
        hash(a)
    # Face values are plain tuples: comparable and hashable.
    assert list(a) == list(Faces.from_faces(list(a)))
    assert len({f for f in a}) == len(a)


@pytest.mark.parametrize(("x0", "y0", "scale"), [(0, 0, 1.0), (37, 12, 1.0), (200, 80, 2.0)])
def test_mapped_matches_the_crop_to_frame_arithmetic(x0: int, y0: int, scale: float) -> None:
    """What the old ``_to_frame`` did by index arithmetic on YuNet rows."""
    expected = ROWS.copy()
    expected[:, :14] /= scale
    expected[:, 0:14:2] += x0
    expected[:, 1:14:2] += y0
    expected[:, 2] -= x0  # width and height are not shifted
    expected[:, 3] -= y0
    got = Faces.from_yunet_rows(ROWS).mapped(x0, y0, scale).yunet_rows()
    assert np.allclose(got, expected, atol=1e-4)


def test_bad_shapes_are_rejected() -> None:
    with pytest.raises(ValueError, match="landmarks"):
        Faces(np.zeros((2, 4)), np.zeros((1, 5, 2)), np.zeros(2))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="score"):
        Faces(np.zeros((2, 4)), np.zeros((2, 5, 2)), np.zeros(3))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="scale"):
        Faces.empty().mapped(0, 0, 0.0)


def test_sface_alignment_works_from_the_container() -> None:
    """SFace aligns with YuNet's row layout: the container rebuilds it exactly, also
    for faces found in an upscaled crop and mapped back to the frame."""
    import cv2

    from cctrace.vision.face import SFaceEmbedder, YuNetFaceDetector

    env = os.environ.get("CCTRACE_SHARED_DATA")
    path = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"
    photo = path / "faces" / "face_recognition" / "two_people.jpg"
    if not photo.is_file():
        pytest.skip(f"shared data not found: {photo}")
    image = np.asarray(cv2.imread(str(photo)), np.uint8)
    detector, embedder = YuNetFaceDetector(), SFaceEmbedder()
    try:
        found = detector.detect(image)
    except Exception as exc:
        pytest.skip(f"YuNet unavailable: {exc}")
    faces = Faces.from_faces(found)
    assert len(faces) >= 1
    for face, original in zip(faces, found, strict=True):
        assert np.array_equal(embedder.align(image, face), embedder.align(image, original))
    # A crop upscaled 2x, detected, mapped back: the same face, aligned alike.
    x0, y0 = 10, 10
    crop = cv2.resize(image[y0:, x0:], None, fx=2.0, fy=2.0, interpolation=cv2.INTER_CUBIC)
    mapped = Faces.from_faces(detector.detect(np.ascontiguousarray(crop))).mapped(x0, y0, 2.0)
    best = mapped[0]
    ref = min(
        found, key=lambda f: np.hypot(f.centre[0] - best.centre[0], f.centre[1] - best.centre[1])
    )
    assert abs(best.centre[0] - ref.centre[0]) < 0.1 * ref.width
    emb = embedder.embed(image, [best, ref])
    assert float(emb[0] @ emb[1]) > 0.8
