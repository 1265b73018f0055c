"""Damaged and non-video files: keep what decodes, report the rest, refuse the unreadable."""

from __future__ import annotations

import random
import wave
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cctrace.errors import FootageError
from cctrace.footage import DecodeReport, iter_frames, probe

T0 = datetime(2026, 3, 15, 8, 15, tzinfo=UTC)
N_FRAMES = 60


def cut(src: Path, dst: Path, fraction: float) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def garble(src: Path, dst: Path, at: tuple[float, ...], size: int, seed: int = 1) -> Path:
    """Overwrite ``size`` bytes at each fraction of the file with random bytes."""
    data = bytearray(src.read_bytes())
    rng = random.Random(seed)
    for fraction in at:
        start = int(len(data) * fraction)
        data[start : start + size] = rng.randbytes(size)
    dst.write_bytes(bytes(data))
    return dst


@pytest.mark.parametrize(
    ("clip", "fps"),
    [("h264_25.mp4", 25), ("h264_10.mkv", 10), ("mjpeg_10.avi", 10), ("mpeg4_25.avi", 25)],
)
def test_truncated_file_keeps_the_frames_before_the_cut(
    clips: dict[str, Path], tmp_path: Path, clip: str, fps: int
) -> None:
    damaged = cut(clips[clip], tmp_path / f"cut_{clip}", 0.5)
    report = DecodeReport()
    frames = list(iter_frames(damaged, "cam1", T0, fps, errors=report, skip_nonref=False))
    got = [f.frame_index for f in frames]
    assert 5 <= len(got) < N_FRAMES * 0.75
    assert got == list(range(len(got)))  # every frame up to the cut, in order
    assert report.truncated
    assert report.frames_expected == N_FRAMES
    assert report.last_good_offset_s == pytest.approx(got[-1] / fps)
    assert any("truncated" in e for e in report.errors)
    assert not report.ok
    assert "truncated (last good frame at" in report.summary()


def test_truncated_file_at_a_low_rate_with_nonref_skip(
    clips: dict[str, Path], tmp_path: Path
) -> None:
    damaged = cut(clips["h264_25.mp4"], tmp_path / "cut.mp4", 0.6)
    report = DecodeReport()
    frames = list(iter_frames(damaged, "cam1", T0, 2, errors=report))
    assert report.skipped_nonref
    assert [f.frame_index for f in frames][:2] == [0, 13]
    assert report.truncated


def test_mp4_cut_before_its_index_is_written_is_unreadable(
    clips: dict[str, Path], tmp_path: Path
) -> None:
    damaged = cut(clips["h264_25_tail_index.mp4"], tmp_path / "recording.mp4", 0.5)
    with pytest.raises(FootageError, match=r"recording\.mp4.*moov"):
        iter_frames(damaged, "cam1", T0, 1)


@pytest.mark.parametrize("clip", ["h264_25.mp4", "h264_10.mkv", "h264_25.ts", "mjpeg_10.mkv"])
def test_garbage_in_the_middle_keeps_decoding(
    clips: dict[str, Path], tmp_path: Path, clip: str
) -> None:
    damaged = garble(clips[clip], tmp_path / f"garbled_{clip}", at=(0.3, 0.5, 0.7), size=3000)
    report = DecodeReport()
    frames = list(iter_frames(damaged, "cam1", T0, 100, errors=report, skip_nonref=False))
    got = [f.frame_index for f in frames]
    assert got == sorted(set(got))
    assert got[-1] >= N_FRAMES - 2  # decoding went on to the end
    assert len(got) >= N_FRAMES - 6
    # The damage shows: concealed (corrupt) frames, rejected packets or missing frames.
    assert report.frames_corrupt + report.packets_failed + report.frames_failed > 0
    assert not report.ok


def test_garbage_that_breaks_frames_is_counted(clips: dict[str, Path], tmp_path: Path) -> None:
    damaged = garble(clips["mjpeg_10.mkv"], tmp_path / "garbled.mkv", at=(0.5,), size=3000)
    report = DecodeReport()
    frames = list(iter_frames(damaged, "cam1", T0, 100, errors=report))
    assert report.packets_failed >= 1
    assert report.frames_failed >= 1
    assert len(frames) + report.frames_failed == N_FRAMES
    assert any("decode error" in e for e in report.errors)
    assert f"{report.frames_failed} frames lost" in report.summary()


def write_text(path: Path) -> Path:
    path.write_text("this is a text file, not a video\n" * 50)
    return path


def write_wav(path: Path) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x01" * 8000)
    return path


def write_empty(path: Path) -> Path:
    path.write_bytes(b"")
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: write_text(d / "notes.mp4"), r"notes\.mp4: not a readable video file"),
        (
            lambda d: write_wav(d / "audio.mp4"),
            r"audio\.mp4: no video stream \(streams found: audio",
        ),
        (lambda d: d / "missing.mp4", r"missing\.mp4: no such file"),
        (lambda d: write_empty(d / "empty.mp4"), r"empty\.mp4: file is empty"),
        (lambda d: d, r"not a regular file"),
    ],
)
def test_unreadable_files_raise_before_any_frame(
    tmp_path: Path, make: Callable[[Path], Path], message: str
) -> None:
    path = make(tmp_path)
    with pytest.raises(FootageError, match=message):
        iter_frames(path, "cam1", T0, 1)  # raises on the call, not on first next()
    with pytest.raises(FootageError, match=message):
        probe(path)


def test_bad_arguments(clips: dict[str, Path]) -> None:
    path = clips["h264_10.mp4"]
    with pytest.raises(ValueError, match="timezone-aware"):
        iter_frames(path, "cam1", datetime(2026, 3, 15, 8, 15), 1)
    with pytest.raises(ValueError, match="analysis_fps"):
        iter_frames(path, "cam1", T0, 0)
    with pytest.raises(ValueError, match="source_fps"):
        iter_frames(path, "cam1", T0, 1, source_fps=-7)
    with pytest.raises(ValueError, match="start_offset_s"):
        iter_frames(path, "cam1", T0, 1, start_offset_s=-1)
