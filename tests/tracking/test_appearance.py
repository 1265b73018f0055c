"""Part-wise colour descriptors on real PETS crops, and ByteTrack with appearance."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from cctrace.evaluation.pets import load_gt_boxes
from cctrace.tracking.appearance import DIM, blend, describe, distances
from cctrace.tracking.bytetrack import AppearanceByteTrack
from cctrace.tracking.tracker import PersonTracker
from cctrace.types import Detections


def _frames(video: Path, wanted: set[int]) -> dict[int, np.ndarray]:
    out = {}
    with av.open(str(video)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in wanted:
                out[index] = frame.to_ndarray(format="bgr24")
            if index >= max(wanted):
                break
    return out


@pytest.mark.parametrize(("frame", "later"), [(100, 103), (300, 303), (500, 503)])
def test_same_person_a_moment_later_is_nearest(pets_dir: Path, frame: int, later: int) -> None:
    """Each person's colours a few frames on are closer to their own than most others'."""
    gt = load_gt_boxes(pets_dir)
    images = _frames(pets_dir / "view001.mp4", {frame, later})
    a = dict(gt[frame])
    b = dict(gt[later])
    ids = sorted(set(a) & set(b))
    da = describe(images[frame], np.array([a[i] for i in ids]))
    db = describe(images[later], np.array([b[i] for i in ids]))
    d = distances(da, db)
    rank1 = float(np.mean(np.argmin(d, axis=1) == np.arange(len(ids))))
    assert len(ids) >= 4
    assert rank1 >= 0.6, (rank1, d.round(2))


def test_distances_and_blend_are_bounded() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (200, 200, 3), dtype=np.uint8)
    desc = describe(image, [[10, 10, 60, 150], [100, 20, 150, 180], [0, 0, 2, 2]])
    assert desc.shape == (3, DIM)
    d = distances(desc, desc)
    assert d[0, 0] == pytest.approx(0.0, abs=1e-5)
    assert d.min() >= 0.0 and d.max() <= 1.0
    assert d[2, 2] == pytest.approx(1.0)  # a box too small to describe matches nothing
    mixed = blend(desc[0], desc[1], 0.8)
    assert distances(mixed[None], desc[:1])[0, 0] < distances(mixed[None], desc[1:2])[0, 0]


def test_appearance_tracker_keeps_ids_and_its_state() -> None:
    tracker = PersonTracker("bytetrack", 7.0, params={"appearance_weight": 0.5})
    assert isinstance(tracker._tracker, AppearanceByteTrack)
    image = np.zeros((240, 400, 3), np.uint8)
    image[:, :200] = (0, 0, 200)  # a person in red on the left, blue on the right
    image[:, 200:] = (200, 0, 0)
    ids = []
    for i in range(5):
        dets = Detections.create([[20 + i, 10, 80 + i, 200], [300, 10, 360, 200]], [0.9, 0.9])
        ids.append(tracker.update(dets, image).tracker_id)
    restored = PersonTracker.from_state(tracker.to_state())
    assert isinstance(restored.bytetrack, AppearanceByteTrack)
    dets = Detections.create([[25, 10, 85, 200], [300, 10, 360, 200]], [0.9, 0.9])
    assert np.array_equal(restored.update(dets, image).tracker_id, ids[-1])
    assert (ids[-1] >= 0).all() and len(set(ids[-1].tolist())) == 2


def test_dropped_tracks_never_reuse_ids() -> None:
    tracker = PersonTracker("bytetrack", 7.0)
    box = Detections.create([[10, 10, 50, 120]], [0.9])
    first = [int(tracker.update(box).tracker_id[0]) for _ in range(4)][-1]
    tracker.drop_tracks()
    after = [int(tracker.update(box).tracker_id[0]) for _ in range(4)]
    assert first >= 0 and after[0] == -1  # a new track, confirmed again
    assert after[-1] > first
