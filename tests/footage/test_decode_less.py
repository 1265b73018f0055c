"""Decoding only what is analysed: key frames only, and a file's sub-stream, on real
clips re-encoded from PETS2009 frames (indices and time stamps checked exactly)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from cctrace.footage.decode_report import DecodeReport
from cctrace.footage.reader import iter_frames, probe
from cctrace.footage.writer import write_video_with_substream, x264_options
from tests.footage.conftest import GOP_10, N_FRAMES, h264_encoder

START = datetime(2026, 3, 15, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def gop10_clip(
    tmp_path_factory: pytest.TempPathFactory,
    pets_frames: list[np.ndarray],
    clip_writer: Callable[..., Path],
) -> Path:
    """60 PETS frames at 10 fps, a key frame every 10 frames, 2 B-frames, no scene cuts."""
    if h264_encoder() != "libx264":
        pytest.skip("this PyAV build has no libx264")
    root = tmp_path_factory.mktemp("decode-less")
    return clip_writer(root / "gop10.mp4", pets_frames, 10, "libx264", gop=GOP_10)


@pytest.fixture(scope="module")
def two_stream_clip(
    tmp_path_factory: pytest.TempPathFactory, pets_frames: list[np.ndarray]
) -> Path:
    """The 60 PETS frames (768x576) as a main stream and a 384x288 sub-stream, 10 fps."""
    if h264_encoder() != "libx264":
        pytest.skip("this PyAV build has no libx264")
    path = tmp_path_factory.mktemp("decode-less") / "main_sub.mp4"
    options = x264_options(crf=23, gop=GOP_10, b_frames=2, scenecut=False)
    return write_video_with_substream(path, pets_frames, 10, (384, 288), options=options)


@pytest.mark.parametrize("analysis_fps", [10.0, 2.0, 1.0])
def test_keyframes_only_decodes_the_key_frames_at_their_true_times(
    gop10_clip: Path, analysis_fps: float
) -> None:
    report = DecodeReport()
    frames = list(
        iter_frames(gop10_clip, "cam", START, analysis_fps, errors=report, keyframes_only=True)
    )
    keyframes = list(range(0, N_FRAMES, GOP_10))  # 0, 10, ..., 50
    assert [f.frame_index for f in frames] == keyframes
    assert [f.timestamp for f in frames] == [START + timedelta(seconds=i / 10) for i in keyframes]
    assert report.frames_decoded == len(keyframes)  # nothing else was decoded
    assert report.keyframes_only and report.frames_failed == 0 and not report.errors
    assert not report.truncated


def test_keyframes_only_below_the_key_frame_rate_samples_them(gop10_clip: Path) -> None:
    frames = list(iter_frames(gop10_clip, "cam", START, 0.5, keyframes_only=True))
    assert [f.frame_index for f in frames] == [0, 20, 40]


def test_keyframes_only_frames_are_the_same_pixels_as_a_full_decode(gop10_clip: Path) -> None:
    full = {f.frame_index: f.image for f in iter_frames(gop10_clip, "cam", START, 10.0)}
    for frame in iter_frames(gop10_clip, "cam", START, 10.0, keyframes_only=True):
        assert np.array_equal(frame.image, full[frame.frame_index])


def test_keyframes_only_resumes_on_the_same_grid(gop10_clip: Path) -> None:
    frames = list(
        iter_frames(gop10_clip, "cam", START, 10.0, start_offset_s=2.5, keyframes_only=True)
    )
    assert [f.frame_index for f in frames] == [30, 40, 50]
    assert frames[0].offset_s == pytest.approx(3.0)


def test_the_sub_stream_is_decoded_in_place_of_the_main_one(two_stream_clip: Path) -> None:
    main, sub = probe(two_stream_clip), probe(two_stream_clip, "sub")
    assert (main.width, main.height) == (768, 576)
    assert (sub.width, sub.height) == (384, 288)
    report = DecodeReport()
    # Every frame decoded (no non-reference skipping): the two streams' B-frames differ.
    got = list(
        iter_frames(
            two_stream_clip, "cam", START, 2.0, errors=report, stream="sub", skip_nonref=False
        )
    )
    full = list(iter_frames(two_stream_clip, "cam", START, 2.0, skip_nonref=False))
    assert [f.image.shape for f in got] == [(288, 384, 3)] * len(full)
    assert (
        [f.frame_index for f in got] == [f.frame_index for f in full] == list(range(0, N_FRAMES, 5))
    )
    assert [f.timestamp for f in got] == [f.timestamp for f in full]
    assert report.frames_failed == 0 and not report.errors
    # The same picture, smaller: the sub-stream frame matches the main one scaled down.
    import cv2

    scaled = cv2.resize(full[3].image, (384, 288), interpolation=cv2.INTER_AREA)
    assert np.abs(scaled.astype(int) - got[3].image.astype(int)).mean() < 6


def test_sub_stream_and_key_frames_together(two_stream_clip: Path) -> None:
    got = list(iter_frames(two_stream_clip, "cam", START, 10.0, stream="sub", keyframes_only=True))
    assert [f.frame_index for f in got] == list(range(0, N_FRAMES, GOP_10))
    assert {f.image.shape for f in got} == {(288, 384, 3)}


def test_a_one_stream_file_has_no_sub_stream_but_decodes(gop10_clip: Path) -> None:
    assert probe(gop10_clip, "sub").width == 768
    with pytest.raises(ValueError, match="main or sub"):
        probe(gop10_clip, "third")


def test_the_site_file_takes_the_decode_options(tmp_path: Path) -> None:
    from cctrace.config import load_site
    from cctrace.errors import ConfigError
    from tests.test_cli import SITE

    (tmp_path / "clip.mp4").write_bytes(b"x")
    text = SITE.replace(
        "    footage:", "    decode: keyframes\n    video_stream: sub\n    footage:"
    )
    (tmp_path / "ok.yaml").write_text(text)
    cam = load_site(tmp_path / "ok.yaml", check_files=False).cameras[0]
    assert (cam.decode, cam.video_stream) == ("keyframes", "sub")
    (tmp_path / "bad.yaml").write_text(text.replace("keyframes", "iframes"))
    with pytest.raises(ConfigError, match="decode"):
        load_site(tmp_path / "bad.yaml", check_files=False)


def test_ingest_of_a_keyframes_camera_decodes_only_its_key_frames(
    gop10_clip: Path, tmp_path: Path
) -> None:
    """The real ingest path (models included) on a ``decode: keyframes`` camera: the file
    is done, not partial (skipped frames are no losses), with 6 frames decoded of 60."""
    from cctrace.config import load_site
    from cctrace.ingest.runner import ingest_site
    from cctrace.store.repository import Store

    (tmp_path / "site.yaml").write_text(
        "cameras:\n  - id: cam\n    location: {x_m: 0, y_m: 0}\n"
        f"    footage: [{gop10_clip}]\n    start_time: 2026-03-15T08:00:00Z\n"
        "    decode: keyframes\n"
        "ingest: {analysis_fps: 7, workers: 1}\nstorage: {data_dir: data}\n"
    )
    site = load_site(tmp_path / "site.yaml")
    summary = ingest_site(site, workers=1, progress=False, allow_expired=True)
    assert [f.status for f in summary.files] == ["done"], summary.files
    with Store.for_site(site) as store:
        [footage] = store.footage.files(camera_id="cam")
    assert (footage.frames_decoded, footage.frames_failed) == (N_FRAMES // GOP_10, 0)
