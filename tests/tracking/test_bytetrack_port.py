"""cctrace's ByteTrack gives the same ids as ``trackers`` 2.6.1's, frame by frame, on
real detections (YOLOv3-tiny, cctrace's default detector settings, on PETS S2L1 and
S3-MF1 frames), plain and with appearance, across a cut, and after a state round trip."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from cctrace.tracking.appearance import Descriptors, describe
from cctrace.tracking.bytetrack import AppearanceByteTrack, ByteTrack, box_iou
from cctrace.tracking.tracker import TRACKER_TYPES, PersonTracker, make_bytetrack

FRAMES = 100
"""Analysed frames per sequence (S2L1 starts with the crossing group)."""
RATE = 7.0
OPTIONS = {"lost_track_buffer": 90, "frame_rate": RATE}
"""What PersonTracker asks for at 7 fps with 3 s of lost-track memory (ingest's)."""


@dataclass(frozen=True)
class Frames:
    """Real detections of one clip: boxes, scores and colour descriptors per frame."""

    name: str
    xyxy: list[np.ndarray]
    conf: list[np.ndarray]
    descriptors: list[Descriptors]


def _detect(video: Path, name: str) -> Frames:
    import av

    from cctrace.config import ModelsConfig
    from cctrace.vision import build_person_detector

    choice = ModelsConfig().person_detector
    detector = build_person_detector(choice.type, **choice.params)
    xyxy, conf, descs = [], [], []
    with av.open(str(video)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index >= FRAMES:
                break
            image = frame.to_ndarray(format="bgr24")
            found = detector.detect(image)
            xyxy.append(np.asarray(found.xyxy, np.float32))
            conf.append(np.asarray(found.confidence, np.float32))
            descs.append(describe(image, found.xyxy))
    return Frames(name, xyxy, conf, descs)


@pytest.fixture(scope="module")
def clips(shared_data: Path) -> list[Frames]:
    out = []
    for folder in ("pets2009-s2l1", "pets2009-s3mf1"):
        video = shared_data / folder / "view001.mp4"
        if not video.is_file():
            pytest.skip(f"{video} not found")
        out.append(_detect(video, folder))
    return out


def _ours(tracker: ByteTrack, clip: Frames, i: int, appearance: bool) -> np.ndarray:
    return tracker.update(clip.xyxy[i], clip.conf[i], clip.descriptors[i] if appearance else None)


@pytest.mark.parametrize("weight", [0.0, 1.0])
@pytest.mark.parametrize("cut_at", [None, 60])
def test_same_ids_as_the_trackers_library(
    clips: list[Frames], weight: float, cut_at: int | None
) -> None:
    ref_mod = pytest.importorskip(
        "tests.tracking.trackers_reference", reason="needs trackers + supervision (dev)"
    )
    pytest.importorskip("trackers", reason="trackers==2.6.1 (requirements-dev-nodeps.txt)")
    for clip in clips:
        ours = make_bytetrack({**OPTIONS, "appearance_weight": weight})
        theirs = ref_mod.make_reference({**OPTIONS, "appearance_weight": weight})
        assert isinstance(ours, AppearanceByteTrack) == (weight > 0)
        confirmed = weak_kept = 0
        for i in range(FRAMES):
            if i == cut_at:
                ours.drop_tracks()
                ref_mod.reference_drop_tracks(theirs)
            mine = _ours(ours, clip, i, weight > 0)
            want = ref_mod.reference_ids(
                theirs, clip.xyxy[i], clip.conf[i], clip.descriptors[i] if weight > 0 else None
            )
            assert mine.tolist() == want.tolist(), f"{clip.name} frame {i}"
            confirmed += int((mine >= 0).sum())
            weak_kept += int(((mine >= 0) & (clip.conf[i] < 0.8)).sum())
        assert ours.maximum_frames_without_update == theirs.maximum_frames_without_update
        assert ours.next_id == theirs._next_track_id
        # the test means something: many confirmed boxes, weak boxes extending tracks
        assert confirmed > 3 * FRAMES and weak_kept > 0, (clip.name, confirmed, weak_kept)
        if cut_at is not None:  # ids keep counting after a cut
            assert ours.next_id > 0


@pytest.mark.parametrize("weight", [0.0, 1.0])
def test_state_round_trip_resumes_with_the_same_ids(clips: list[Frames], weight: float) -> None:
    clip = clips[0]
    straight = make_bytetrack({**OPTIONS, "appearance_weight": weight})
    first = make_bytetrack({**OPTIONS, "appearance_weight": weight})
    half = FRAMES // 2
    for i in range(half):
        _ours(straight, clip, i, weight > 0)
        _ours(first, clip, i, weight > 0)
    resumed = ByteTrack.from_state(first.to_state())
    assert type(resumed) is type(first)
    for i in range(half, FRAMES):
        a = _ours(straight, clip, i, weight > 0)
        b = _ours(resumed, clip, i, weight > 0)
        assert a.tolist() == b.tolist(), f"frame {i}"


def test_iou_matches_definition() -> None:
    a = np.array([[0.0, 0.0, 10.0, 10.0], [0, 0, 0, 0]])
    b = np.array([[5.0, 5.0, 15.0, 15.0]], np.float32)
    got = box_iou(a, b)
    assert got.dtype == np.float32
    assert got[0, 0] == pytest.approx(25 / 175)
    assert got[1, 0] == 0.0
    assert box_iou(np.empty((0, 4)), b).shape == (0, 1)
    with pytest.raises(ValueError, match="non-finite"):
        box_iou(np.array([[0, 0, np.nan, 1]]), b)


@pytest.mark.parametrize("kind", ["ocsort", "sort"])
def test_removed_trackers_name_the_replacement(kind: str) -> None:
    assert TRACKER_TYPES == ("bytetrack",)
    with pytest.raises(ValueError, match=r"ingest\.tracker: bytetrack"):
        PersonTracker(kind)


def test_unknown_option_raises() -> None:
    with pytest.raises(ValueError, match="unknown ByteTrack option"):
        make_bytetrack({"track_thresh": 0.5})
