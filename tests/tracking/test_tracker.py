"""The tracker wrapper: lost-track time is what we ask for, ids persist, bad kinds raise."""

from __future__ import annotations

import numpy as np
import pytest

from cctrace.tracking.tracker import PersonTracker
from cctrace.types import Detections


@pytest.mark.parametrize("fps", [5.0, 7.0, 25.0])
def test_lost_track_survives_the_time_asked(fps: float) -> None:
    tracker = PersonTracker("bytetrack", fps, lost_after_s=2.0)
    assert tracker.frames_kept_lost == pytest.approx(2.0 * fps, abs=1)


def test_ids_persist_across_frames() -> None:
    tracker = PersonTracker("bytetrack", 7.0)
    ids = []
    for i in range(6):
        dets = Detections.create([[10 + i, 10, 50 + i, 120], [300, 40, 340, 160]], [0.9, 0.8])
        ids.append(tracker.update(dets).tracker_id)
    assert (ids[-1] >= 0).all()
    assert len(set(ids[-1].tolist())) == 2
    assert np.array_equal(ids[-1], ids[-2])


def test_unknown_kind_raises() -> None:
    with pytest.raises(ValueError, match="unknown tracker"):
        PersonTracker("deepsort")


def test_bytetrack_matches_confident_boxes_first() -> None:
    """Boxes under HIGH_CONFIDENCE keep an existing track going but start none."""
    from cctrace.tracking.tracker import HIGH_CONFIDENCE

    tracker = PersonTracker("bytetrack", 7.0)
    faint = HIGH_CONFIDENCE - 0.2
    ids = []
    for i in range(8):
        conf = 0.9 if i < 4 else faint  # person 1 becomes hard to see (half hidden)
        dets = Detections.create(
            [[10 + 3 * i, 10, 50 + 3 * i, 120], [300, 40, 340, 160]], [conf, faint]
        )
        ids.append(tracker.update(dets).tracker_id)
    first = ids[3][0]
    assert first >= 0
    assert [frame[0] for frame in ids[4:]] == [first] * 4  # still the same track
    assert all(frame[1] == -1 for frame in ids)  # seen only faintly: never a track
