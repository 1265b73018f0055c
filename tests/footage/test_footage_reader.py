"""probe / iter_frames on real clips: sampling, timing, resume, NONREF skip."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from cctrace.footage import DecodeReport, iter_frames, probe
from cctrace.types import Frame

T0 = datetime(2026, 3, 15, 8, 15, tzinfo=UTC)
N_FRAMES = 60  # the clips fixture's length
B_FRAMES = 2  # B-frames per run in the clips fixture's H.264 / MPEG-4 clips

CLIPS_10 = ["h264_10.mp4", "h264_10.mkv", "mjpeg_10.avi"]
CLIPS_25 = ["h264_25.mp4", "h264_25_tail_index.mp4", "h264_25.ts", "mpeg4_25.avi"]


def run(path: Path, analysis_fps: float, **kwargs: object) -> tuple[list[Frame], DecodeReport]:
    report = DecodeReport()
    frames = list(iter_frames(path, "cam1", T0, analysis_fps, errors=report, **kwargs))  # type: ignore[arg-type]
    return frames, report


def indices(frames: list[Frame]) -> list[int]:
    return [f.frame_index for f in frames]


# Sample times k / analysis_fps; the frame kept for each is the first at or after it.
SAMPLING_10 = [
    (1, [0, 10, 20, 30, 40, 50]),
    (2, list(range(0, 60, 5))),
    (7, [0, 2, 3, 5, 6, 8, 9, 10, 12, 13, 15, 16, 18, 19, 20, 22, 23, 25, 26, 28, 29, 30,
         32, 33, 35, 36, 38, 39, 40, 42, 43, 45, 46, 48, 49, 50, 52, 53, 55, 56, 58, 59]),
    (10, list(range(60))),
    (30, list(range(60))),  # "at most" analysis_fps: every frame once
]  # fmt: skip
SAMPLING_25 = [
    (1, [0, 25, 50]),
    (2, [0, 13, 25, 38, 50]),
    (7, [0, 4, 8, 11, 15, 18, 22, 25, 29, 33, 36, 40, 43, 47, 50, 54, 58]),
    (10, [0, 3, 5, 8, 10, 13, 15, 18, 20, 23, 25, 28, 30, 33, 35, 38, 40, 43, 45, 48,
          50, 53, 55, 58]),
]  # fmt: skip


@pytest.mark.parametrize("clip", CLIPS_10)
@pytest.mark.parametrize(("analysis_fps", "expected"), SAMPLING_10)
def test_sampling_10fps(
    clips: dict[str, Path], clip: str, analysis_fps: float, expected: list[int]
) -> None:
    frames, report = run(clips[clip], analysis_fps, skip_nonref=False)
    assert indices(frames) == expected
    assert report.frames_decoded == N_FRAMES
    assert report.frames_yielded == len(expected)
    assert report.ok, report.errors
    for f in frames:
        assert f.offset_s == pytest.approx(f.frame_index / 10)
        assert f.timestamp == T0 + timedelta(seconds=f.frame_index / 10)
        assert f.camera_id == "cam1"


@pytest.mark.parametrize("clip", CLIPS_25)
@pytest.mark.parametrize(("analysis_fps", "expected"), SAMPLING_25)
def test_sampling_25fps(
    clips: dict[str, Path], clip: str, analysis_fps: float, expected: list[int]
) -> None:
    frames, report = run(clips[clip], analysis_fps, skip_nonref=False)
    assert indices(frames) == expected
    assert report.frames_decoded == N_FRAMES
    assert report.ok, report.errors
    for f in frames:
        assert f.offset_s == pytest.approx(f.frame_index / 25)
        assert f.timestamp == T0 + timedelta(seconds=f.frame_index / 25)


def test_frames_are_bgr_images_of_the_source(
    clips: dict[str, Path], pets_frames: list[np.ndarray]
) -> None:
    frames, _ = run(clips["mjpeg_10.avi"], 10)
    assert len(frames) == N_FRAMES
    for f in (frames[0], frames[-1]):
        source = pets_frames[f.frame_index]
        assert f.image.shape == source.shape == (576, 768, 3)
        assert f.image.dtype == np.uint8
        assert (f.width, f.height) == (768, 576)
        per_channel = np.abs(f.image.astype(float) - source).mean(axis=(0, 1))
        swapped = np.abs(f.image[..., ::-1].astype(float) - source).mean(axis=(0, 1))
        assert per_channel.max() < 10.0  # JPEG loss only
        assert swapped[[0, 2]].min() > 3 * per_channel.max()  # channel order is BGR


def test_start_time_in_another_zone_is_reported_in_utc(clips: dict[str, Path]) -> None:
    local = datetime(2026, 3, 15, 9, 15, tzinfo=timezone(timedelta(hours=1)))
    frames = list(iter_frames(clips["h264_10.mp4"], "cam1", local, 1))
    assert frames[1].timestamp == datetime(2026, 3, 15, 8, 15, 1, tzinfo=UTC)
    assert frames[1].timestamp.tzinfo == UTC


@pytest.mark.parametrize(
    ("analysis_fps", "expected"),
    [
        (7, list(range(60))),  # every frame; frame i at i / 7 s
        (2, [0, 4, 7, 11, 14, 18, 21, 25, 28, 32, 35, 39, 42, 46, 49, 53, 56]),
        (1, [0, 7, 14, 21, 28, 35, 42, 49, 56]),
    ],
)
def test_source_fps_overrides_container_rate(
    clips: dict[str, Path], analysis_fps: float, expected: list[int]
) -> None:
    frames, _ = run(clips["h264_10.mp4"], analysis_fps, source_fps=7, skip_nonref=False)
    assert indices(frames) == expected
    for f in frames:
        assert f.offset_s == pytest.approx(f.frame_index / 7)
        assert f.timestamp == T0 + timedelta(seconds=f.frame_index / 7)


_FULL_RUNS: dict[tuple[Path, float, float | None], list[tuple[int, datetime, float]]] = {}


def full_run(
    path: Path, analysis_fps: float, source_fps: float | None
) -> list[tuple[int, datetime, float]]:
    """(index, timestamp, offset) of an uninterrupted run, computed once per setting."""
    key = (path, analysis_fps, source_fps)
    if key not in _FULL_RUNS:
        frames, _ = run(path, analysis_fps, source_fps=source_fps)
        _FULL_RUNS[key] = [(f.frame_index, f.timestamp, f.offset_s) for f in frames]
    return _FULL_RUNS[key]


@pytest.mark.parametrize("clip", ["h264_25.mp4", "h264_10.mkv", "h264_25.ts", "mjpeg_10.avi",
                                  "mpeg4_25.avi"])  # fmt: skip
@pytest.mark.parametrize("analysis_fps", [1, 7, 25])
@pytest.mark.parametrize("offset_s", [0.35, 1.5, 2.33, 5.5])
@pytest.mark.parametrize("source_fps", [None, 7.0])
def test_resume_gives_the_remaining_frames_of_an_uninterrupted_run(
    clips: dict[str, Path],
    clip: str,
    analysis_fps: float,
    offset_s: float,
    source_fps: float | None,
) -> None:
    full = full_run(clips[clip], analysis_fps, source_fps)
    resumed, report = run(clips[clip], analysis_fps, source_fps=source_fps, start_offset_s=offset_s)
    expected = [(i, t) for i, t, offset in full if offset >= offset_s - 1e-9]
    assert [(f.frame_index, f.timestamp) for f in resumed] == expected
    assert all(f.offset_s >= offset_s - 1e-9 for f in resumed)
    assert report.frames_failed == 0


@pytest.mark.parametrize(("clip", "fps"), [("h264_25.mp4", 25), ("mjpeg_10.avi", 10)])
def test_resume_seeks_instead_of_decoding_from_the_start(
    clips: dict[str, Path], clip: str, fps: int
) -> None:
    offset = 1.5  # the keyframe before is at 1.0 s (one per second)
    frames, report = run(clips[clip], fps, start_offset_s=offset)
    assert frames[0].frame_index == round(offset * fps)
    assert report.frames_decoded <= N_FRAMES - fps  # the first second was not decoded


def test_resume_at_an_exact_frame_offset_includes_that_frame(clips: dict[str, Path]) -> None:
    frames, _ = run(clips["h264_10.mp4"], 10, start_offset_s=3.3)
    assert frames[0].frame_index == 33
    frames, _ = run(clips["h264_10.mp4"], 10, source_fps=7, start_offset_s=33 / 7)
    assert frames[0].frame_index == 33


def test_resume_past_the_end_yields_nothing(clips: dict[str, Path]) -> None:
    frames, report = run(clips["h264_25.mp4"], 5, start_offset_s=60.0)
    assert frames == []
    assert not report.truncated


@pytest.mark.parametrize(("clip", "fps", "gop"), [("h264_25.mp4", 25, 25), ("h264_10.mkv", 10, 10)])
def test_nonref_skip_at_keyframe_aligned_rate_gives_the_same_frames(
    clips: dict[str, Path], clip: str, fps: int, gop: int
) -> None:
    plain, plain_report = run(clips[clip], fps / gop, skip_nonref=False)
    skipped, skip_report = run(clips[clip], fps / gop, skip_nonref=True)
    assert indices(skipped) == indices(plain) == list(range(0, N_FRAMES, gop))
    assert [f.timestamp for f in skipped] == [f.timestamp for f in plain]
    assert skip_report.frames_decoded < plain_report.frames_decoded  # B-frames not decoded
    assert skip_report.skipped_nonref and not plain_report.skipped_nonref
    assert skip_report.frames_failed == 0


@pytest.mark.parametrize("clip", ["h264_25.mp4", "h264_25.ts", "mpeg4_25.avi", "h264_10.mkv"])
@pytest.mark.parametrize("analysis_fps", [2, 3, 5])
def test_nonref_skip_moves_samples_to_the_next_reference_frame(
    clips: dict[str, Path], clip: str, analysis_fps: float
) -> None:
    """Documented difference: with the skip, a sample lands on the first decoded
    (reference) frame at or after its time: at most a B-frame run later."""
    reference, _ = run(clips[clip], 1000, skip_nonref=True)
    refs = indices(reference)
    assert 0 < len(refs) < N_FRAMES
    plain, _ = run(clips[clip], analysis_fps, skip_nonref=False)
    skipped, _ = run(clips[clip], analysis_fps, skip_nonref=True)
    expected = [min(r for r in refs if r >= i) for i in indices(plain)]
    assert indices(skipped) == expected
    assert all(
        0 <= s - p <= B_FRAMES for s, p in zip(indices(skipped), indices(plain), strict=True)
    )
    fps = 10 if clip.endswith(".mkv") else 25
    for f in skipped:  # the reported time is the yielded frame's own time
        assert f.offset_s == pytest.approx(f.frame_index / fps)


@pytest.mark.parametrize(("analysis_fps", "skips"), [(25, False), (7, False), (6, True), (1, True)])
def test_nonref_skip_is_chosen_when_the_analysis_rate_is_far_below(
    clips: dict[str, Path], analysis_fps: float, skips: bool
) -> None:
    _, report = run(clips["h264_25.mp4"], analysis_fps)
    assert report.skipped_nonref is skips


def test_raw_h264_without_timestamps_counts_frames(clips: dict[str, Path], tmp_path: Path) -> None:
    import av

    raw = tmp_path / "clip.h264"
    with av.open(str(clips["h264_25.mp4"])) as src, av.open(str(raw), "w", format="h264") as out:
        stream = src.streams.video[0]
        out_stream = out.add_stream_from_template(stream)
        for packet in src.demux(stream):
            if packet.dts is not None:
                packet.stream = out_stream
                out.mux(packet)
    frames, report = run(raw, 2)
    assert indices(frames) == [0, 13, 25, 38, 50]
    assert not report.skipped_nonref  # counting needs every frame decoded
    resumed, _ = run(raw, 2, start_offset_s=1.0)
    assert indices(resumed) == [25, 38, 50]


def test_probe(clips: dict[str, Path]) -> None:
    info = probe(clips["h264_25.mp4"])
    assert (info.codec, info.width, info.height) == ("h264", 768, 576)
    assert info.fps == 25
    assert info.n_frames == N_FRAMES
    assert info.duration_s == pytest.approx(2.4)
    assert info.creation_time is None
    info = probe(clips["mjpeg_10.avi"])
    assert (info.codec, info.fps, info.n_frames) == ("mjpeg", 10, N_FRAMES)
    assert info.duration_s == pytest.approx(6.0)


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_probe_reads_creation_time(
    tmp_path: Path,
    pets_frames: list[np.ndarray],
    clip_writer: Callable[..., Path],
    suffix: str,
) -> None:
    path = clip_writer(
        tmp_path / f"c{suffix}",
        pets_frames[:5],
        10,
        "mpeg4",
        metadata={"creation_time": "2026-03-15T08:15:00.000000Z"},
    )
    assert probe(path).creation_time == datetime(2026, 3, 15, 8, 15, tzinfo=UTC)


def test_analysis_with_fractional_rates(clips: dict[str, Path]) -> None:
    frames, _ = run(clips["h264_25.mp4"], 2.5, skip_nonref=False)
    assert indices(frames) == list(range(0, 60, 10))
    frames, _ = run(clips["h264_10.mp4"], 1 / 3, skip_nonref=False)
    assert indices(frames) == [0, 30]
    assert math.isclose(frames[1].offset_s, 3.0)
