"""A tracklet's faces must show one person: faces that disagree are dropped."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from cctrace.tracking.face_consistency import (
    SAME_PERSON_COSINE,
    consistent_faces,
    identity_change,
)
from cctrace.tracking.tracklets import TrackletBuilder
from cctrace.types import FaceSample, TrackPoint

T0 = datetime(2026, 3, 15, 8, 0, tzinfo=UTC)
NO_CROP = np.zeros((0, 0, 3), np.uint8)


def _unit(i: int, dim: int = 8) -> np.ndarray:
    v = np.zeros(dim, np.float32)
    v[i] = 1.0
    return v


def _sample(emb: np.ndarray, quality: float = 0.5, i: int = 0) -> FaceSample:
    return FaceSample(i, T0, emb.astype(np.float32), quality, 0.1, NO_CROP)


P, Q, R = _unit(0), _unit(1), _unit(2)
P2 = (0.9 * _unit(0) + 0.3 * _unit(3)) / np.linalg.norm([0.9, 0.3])  # P seen again


@pytest.mark.parametrize(
    ("embeddings", "kept", "dropped"),
    [
        ([], 0, 0),
        ([P], 1, 0),
        ([P, P2], 2, 0),
        ([P, P2, P, Q], 3, 1),  # one outlier among four: dropped
        ([Q, P, P2], 2, 1),  # the outlier is the best face: still dropped
        ([P, Q], 0, 2),  # two faces that disagree: nothing says which is the person's
        ([P, P2, Q, Q], 0, 4),  # an even split: all dropped
        ([P, Q, R], 0, 3),  # three people
    ],
)
def test_consistency_table(embeddings: list[np.ndarray], kept: int, dropped: int) -> None:
    check = consistent_faces([_sample(e, 1.0 - 0.1 * i, i) for i, e in enumerate(embeddings)])
    assert (len(check.kept), len(check.dropped)) == (kept, dropped)
    assert bool(check.reason) is (dropped > 0)
    for s in check.kept:
        assert all(float(s.embedding @ k.embedding) >= SAME_PERSON_COSINE for k in check.kept)


def _point(i: int) -> TrackPoint:
    return TrackPoint(i, T0 + timedelta(seconds=i / 7), (0, 0, 10, 30), (float(i), 0.0), 0.9)


def test_builder_drops_outlier_faces_and_counts_them(caplog: pytest.LogCaptureFixture) -> None:
    builder = TrackletBuilder("cam", faces_per_tracklet=5, min_points=1)
    builder.add_point(3, _point(0))
    for i, (emb, q) in enumerate([(P, 0.6), (P2, 0.5), (Q, 0.9), (P, 0.4)]):
        builder.add_face(3, _sample(emb, q, i))
    with caplog.at_level("INFO", logger="cctrace.tracking.tracklets"):
        (tracklet,), _ = builder.finish_all()
    assert tracklet.faces_dropped == 1
    assert [f.frame_index for f in tracklet.faces] == [0, 1, 3]  # best first, Q's face gone
    assert "disagree" in caplog.text


def _timed(emb: np.ndarray, frame: int, quality: float = 0.5) -> FaceSample:
    return FaceSample(
        frame, T0 + timedelta(seconds=frame / 7), emb.astype(np.float32), quality, 0.1, NO_CROP
    )


@pytest.mark.parametrize(
    ("embeddings", "change_after"),
    [
        ([P, P2, Q, Q], 1),  # two faces of one person, then two of another: split
        ([P, P2, P, Q, Q], 2),
        ([P, P2, P, Q], None),  # one face of the other: an outlier, not a change
        ([P, Q, P2, Q], None),  # interleaved: a confusion, not a change
        ([P, P2, Q, R], None),  # the later faces are not one person
        ([P, P2], None),
    ],
)
def test_identity_change_only_when_unambiguous(
    embeddings: list[np.ndarray], change_after: int | None
) -> None:
    samples = [_timed(e, 7 * i) for i, e in enumerate(embeddings)]
    moment = identity_change(list(reversed(samples)))  # order of the input does not matter
    if change_after is None:
        assert moment is None
    else:
        last, first = samples[change_after].timestamp, samples[change_after + 1].timestamp
        assert moment == last + (first - last) / 2


def test_builder_splits_a_track_whose_faces_change_person(
    caplog: pytest.LogCaptureFixture,
) -> None:
    builder = TrackletBuilder("cam", faces_per_tracklet=6, min_points=3)
    for i in range(30):
        builder.add_point(4, _point(i))
    for frame, emb in [(2, P), (5, P2), (20, Q), (24, Q)]:
        builder.add_face(4, _timed(emb, frame))
    with caplog.at_level("INFO", logger="cctrace.tracking.tracklets"):
        first, second = builder.finish_all()[0]
    assert "split into two" in caplog.text
    cut = T0 + timedelta(seconds=12.5 / 7)
    assert first.points[-1].timestamp < cut <= second.points[0].timestamp
    assert len(first.points) + len(second.points) == 30
    assert sorted(f.frame_index for f in first.faces) == [2, 5]
    assert sorted(f.frame_index for f in second.faces) == [20, 24]
    assert first.track_id != second.track_id
    assert first.faces_dropped == second.faces_dropped == 0
    # Too short a part: no split, the faces are dropped as before.
    short = TrackletBuilder("cam", faces_per_tracklet=6, min_points=10)
    for i in range(14):
        short.add_point(4, _point(i))
    for frame, emb in [(1, P), (2, P2), (11, Q), (12, Q)]:
        short.add_face(4, _timed(emb, frame))
    (only,), _ = short.finish_all()
    assert len(only.points) == 14 and only.faces_dropped == 4


def _shared() -> Path:
    env = os.environ.get("CCTRACE_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared" / "data"


def test_real_faces_of_two_people_in_one_track_lose_the_intruder() -> None:
    """SFace embeddings of real photos (deepface identities): four faces of one person
    and one of another in one tracklet; the other person's face is dropped."""
    import cv2

    from cctrace.vision.face import SFaceEmbedder, YuNetFaceDetector

    root = _shared() / "faces" / "deepface"
    clusters_path = root / "identity_clusters.json"
    if not clusters_path.is_file():
        pytest.skip(f"shared data not found: {clusters_path}")
    clusters = json.loads(clusters_path.read_text())
    detector, embedder = YuNetFaceDetector(max_side=1024), SFaceEmbedder()

    def embed(name: str) -> np.ndarray:
        image = np.asarray(cv2.imread(str(root / name)), np.uint8)
        faces = detector.detect(image)
        assert faces, name
        return embedder.embed(image, faces[:1])[0]

    person = [embed(n) for n in clusters["id00"][:4]]
    intruder = embed(clusters["id01"][0])
    samples = [_sample(e, 0.5, i) for i, e in enumerate(person)]
    samples.insert(1, _sample(intruder, 0.9, 99))
    check = consistent_faces(samples)
    assert [s.frame_index for s in check.dropped] == [99]
    assert len(check.kept) == 4


def test_real_faces_of_two_people_one_after_the_other_split_the_track() -> None:
    """SFace embeddings of real photos: two faces of one person, then two of another,
    in one track (the tracker swapped them): the track is split between them."""
    import cv2

    from cctrace.vision.face import SFaceEmbedder, YuNetFaceDetector

    root = _shared() / "faces" / "deepface"
    clusters_path = root / "identity_clusters.json"
    if not clusters_path.is_file():
        pytest.skip(f"shared data not found: {clusters_path}")
    clusters = json.loads(clusters_path.read_text())
    detector, embedder = YuNetFaceDetector(max_side=1024), SFaceEmbedder()

    def embed(name: str) -> np.ndarray:
        image = np.asarray(cv2.imread(str(root / name)), np.uint8)
        faces = detector.detect(image)
        assert faces, name
        return embedder.embed(image, faces[:1])[0]

    faces = [embed(n) for n in clusters["id00"][:2]] + [embed(n) for n in clusters["id01"][:2]]
    builder = TrackletBuilder("cam", faces_per_tracklet=6, min_points=3)
    for i in range(40):
        builder.add_point(9, _point(i))
    for frame, emb in zip((3, 8, 30, 35), faces, strict=True):
        builder.add_face(9, _timed(emb, frame))
    done, _ = builder.finish_all()
    assert [sorted(f.frame_index for f in t.faces) for t in done] == [[3, 8], [30, 35]]
