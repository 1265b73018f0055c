"""Shot-cut and recording-gap detection on real footage (tracking/cuts.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from cctrace.state import pack, unpack
from cctrace.tracking.cuts import Break, CutDetector, compare, frame_features

STEP_S = 1 / 7
START = datetime(2009, 1, 1, 12, 0, tzinfo=UTC)

CLIPS = [
    # (folder, file, analysed every n-th frame: about 7 fps)
    ("pets2009-s2l1", "view001.mp4", 1),
    ("pets2009-s3mf1", "view001.mp4", 1),
    ("caviar-front", "EnterExitCrossingPaths1front.mpg", 4),
    ("caviar-front", "EnterExitCrossingPaths2front.mpg", 4),
    ("caviar-front", "OneLeaveShop1front.mpg", 4),
    ("caviar-front", "OneLeaveShopReenter1front.mpg", 4),
    ("caviar-front", "OneLeaveShopReenter2front.mpg", 4),
    ("caviar-front", "TwoLeaveShop2front.mpg", 4),
]


def _clip(shared_data: Path, folder: str, name: str) -> Path:
    path = shared_data / folder / name
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path


def _frames(path: Path, step: int, limit: int | None = None) -> Iterator[np.ndarray]:
    with av.open(str(path)) as container:
        kept = 0
        for index, frame in enumerate(container.decode(video=0)):
            if index % step:
                continue
            yield frame.to_ndarray(format="bgr24")
            kept += 1
            if limit is not None and kept >= limit:
                return


def _first(path: Path, size: tuple[int, int] = (768, 576)) -> np.ndarray:
    image = next(_frames(path, 1, 1))
    return cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)


@pytest.mark.parametrize(("folder", "name", "step"), CLIPS)
def test_no_cut_inside_a_real_clip(shared_data: Path, folder: str, name: str, step: int) -> None:
    detector = CutDetector(STEP_S)
    for i, image in enumerate(_frames(_clip(shared_data, folder, name), step)):
        assert detector.check(image, START + timedelta(seconds=i * STEP_S)) is Break.NONE, i
    assert detector.cuts == 0 and detector.gaps == 0


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (CLIPS[0], CLIPS[2]),
        (CLIPS[2], CLIPS[0]),
        (CLIPS[1], CLIPS[5]),
        (CLIPS[7], CLIPS[1]),
    ],
)
def test_cut_between_real_clips(
    shared_data: Path, before: tuple[str, str, int], after: tuple[str, str, int]
) -> None:
    a = _first(_clip(shared_data, before[0], before[1]))
    b = _first(_clip(shared_data, after[0], after[1]))
    detector = CutDetector(STEP_S)
    assert detector.check(a, START) is Break.NONE
    assert detector.check(b, START + timedelta(seconds=STEP_S)) is Break.CUT
    assert detector.cuts == 1
    assert compare(frame_features(a), frame_features(b)).is_cut


@pytest.mark.parametrize(
    ("dt_steps", "expected"),
    [(1.0, Break.NONE), (3.0, Break.NONE), (4.5, Break.GAP), (70.0, Break.GAP), (-1.0, Break.GAP)],
)
def test_time_jump_between_frames_is_a_gap(
    shared_data: Path, dt_steps: float, expected: Break
) -> None:
    frames = list(_frames(_clip(shared_data, "pets2009-s2l1", "view001.mp4"), 1, 2))
    detector = CutDetector(STEP_S)
    detector.check(frames[0], START)
    assert detector.check(frames[1], START + timedelta(seconds=dt_steps * STEP_S)) is expected
    assert detector.gaps == (expected is Break.GAP)


def test_frame_size_change_is_a_cut() -> None:
    detector = CutDetector(STEP_S)
    detector.check(np.zeros((576, 768, 3), np.uint8), START)
    found = detector.check(np.zeros((288, 384, 3), np.uint8), START + timedelta(seconds=STEP_S))
    assert found is Break.NONE  # same grid and histogram: a resize alone is no new shot


def test_detector_state_keeps_its_last_frame(shared_data: Path) -> None:
    a = _first(_clip(shared_data, "pets2009-s2l1", "view001.mp4"))
    b = _first(_clip(shared_data, "caviar-front", "TwoLeaveShop2front.mpg"))
    detector = CutDetector(STEP_S)
    detector.check(a, START)
    restored = CutDetector.from_state(unpack(pack(detector.to_state())))
    assert restored.check(b, START + timedelta(seconds=STEP_S)) is Break.CUT


def test_step_must_be_positive() -> None:
    with pytest.raises(ValueError, match="step_s"):
        CutDetector(0.0)
