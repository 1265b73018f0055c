"""Exact frame counts across a resume, and cut MPEG-TS files reported as truncated."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from cctrace.footage import DecodeReport, iter_frames

T0 = datetime(2026, 3, 15, 8, 15, tzinfo=UTC)
N_FRAMES = 60


@pytest.mark.parametrize(("clip", "fps"), [("h264_25.mp4", 25), ("h264_10.mkv", 10)])
@pytest.mark.parametrize("resume_at", [7, 31, 45])
def test_a_resumed_run_counts_only_the_frames_it_adds(
    clips: dict[str, Path], clip: str, fps: int, resume_at: int
) -> None:
    """Frames decoded again to reach the resume point were counted by the first run."""
    whole = DecodeReport()
    list(iter_frames(clips[clip], "cam1", T0, fps, errors=whole, skip_nonref=False))
    assert whole.frames_decoded == N_FRAMES
    first, rest = DecodeReport(), DecodeReport()
    head = iter_frames(clips[clip], "cam1", T0, fps, errors=first, skip_nonref=False)
    for frame in head:
        if frame.frame_index == resume_at - 1:
            break  # the checkpoint: frames 0..resume_at-1 done
    tail = iter_frames(
        clips[clip],
        "cam1",
        T0,
        fps,
        start_offset_s=resume_at / fps,
        errors=rest,
        skip_nonref=False,
    )
    assert [f.frame_index for f in tail][:1] == [resume_at]
    assert first.frames_decoded == resume_at
    assert rest.frames_decoded == N_FRAMES - resume_at
    assert first.frames_decoded + rest.frames_decoded == whole.frames_decoded
    assert rest.frames_failed == 0 and rest.ok


@pytest.mark.parametrize("fraction", [0.5, 0.75])
def test_an_mpeg_ts_cut_short_is_truncated(
    clips: dict[str, Path], tmp_path: Path, fraction: float
) -> None:
    """MPEG-TS declares no length: the damaged last frame (or packet) shows the cut."""
    data = clips["h264_25.ts"].read_bytes()
    cut = tmp_path / "cut.ts"
    cut.write_bytes(data[: int(len(data) * fraction)])
    report = DecodeReport()
    frames = list(iter_frames(cut, "cam1", T0, 25, errors=report, skip_nonref=False))
    assert 0 < len(frames) < N_FRAMES
    assert report.truncated and not report.ok
    assert "truncated" in report.summary()


def test_a_whole_mpeg_ts_is_not_truncated(clips: dict[str, Path]) -> None:
    report = DecodeReport()
    frames = list(iter_frames(clips["h264_25.ts"], "cam1", T0, 25, errors=report))
    assert len(frames) == N_FRAMES and not report.truncated and report.ok
