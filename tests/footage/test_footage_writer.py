"""The clip writer is repeatable: the demo's cut cameras and the test clips are the same
bytes (and decode to the same pixels) on every run."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest

from cctrace.demo import _crop_clip
from cctrace.errors import FootageError
from cctrace.footage.writer import write_video, x264_options

FRAMES = 40


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _decoded(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]


def _pets_frames(pets_view001: Path, count: int = FRAMES) -> Iterator[np.ndarray]:
    """Frames decoded while the caller encodes: the case that was not repeatable."""
    with av.open(str(pets_view001)) as container:
        for _, frame in zip(range(count), container.decode(video=0), strict=False):
            yield frame.to_ndarray(format="bgr24")[:, 288:768]


@pytest.fixture(scope="module")
def short_source(pets_view001: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("writer") / "source.mp4"
    with av.open(str(pets_view001)) as container:
        frames = [
            f.to_ndarray(format="bgr24")
            for _, f in zip(range(FRAMES), container.decode(video=0), strict=False)
        ]
    return write_video(out, frames, 7)


def test_lossless_encode_is_the_same_bytes_and_pixels_every_time(
    pets_view001: Path, tmp_path: Path
) -> None:
    options = x264_options(lossless=True)
    first = write_video(tmp_path / "a.mp4", _pets_frames(pets_view001), 10, options=options)
    second = write_video(tmp_path / "b.mp4", _pets_frames(pets_view001), 10, options=options)
    assert _sha(first) == _sha(second)
    decoded = _decoded(first)
    assert len(decoded) == FRAMES
    for got, want in zip(decoded, _pets_frames(pets_view001), strict=True):
        # Lossless in YUV 4:2:0: only the colour conversion round trip (about 2 levels).
        assert got.shape == want.shape
        assert np.abs(got.astype(np.int16) - want).mean() < 3.0


def test_demo_camera_cut_is_repeatable(short_source: Path, tmp_path: Path) -> None:
    _crop_clip(short_source, tmp_path / "west.mp4", 0, 480)
    _crop_clip(short_source, tmp_path / "west-again.mp4", 0, 480)
    assert _sha(tmp_path / "west.mp4") == _sha(tmp_path / "west-again.mp4")
    frames = _decoded(tmp_path / "west.mp4")
    assert len(frames) == FRAMES and frames[0].shape == (576, 480, 3)
    assert not (tmp_path / "west.part.mp4").exists()


def test_lossy_encode_writes_every_frame(pets_view001: Path, tmp_path: Path) -> None:
    """Lossy encodes are not promised to be repeatable (they were not, inside a long test
    run); they must still hold every frame, in order, close to the original."""
    frames = list(_pets_frames(pets_view001, 20))
    out = write_video(tmp_path / "a.mp4", frames, 10, options=x264_options(crf=18, gop=10))
    decoded = _decoded(out)
    assert len(decoded) == 20
    for got, want in zip(decoded, frames, strict=True):
        assert np.abs(got.astype(np.int16) - want).mean() < 8.0


def test_no_frames_and_bad_rate_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(FootageError, match="no frames"):
        write_video(tmp_path / "empty.mp4", [], 10)
    with pytest.raises(ValueError, match="fps"):
        write_video(tmp_path / "zero.mp4", [np.zeros((16, 16, 3), np.uint8)], 0)
