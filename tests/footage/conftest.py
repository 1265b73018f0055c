"""Fixtures for the footage tests: small real clips re-encoded from PETS2009 frames.

The frames come from the shared reference data (``../shared/data`` next to the repo,
or ``$CCTRACE_SHARED_DATA``); tests that need them skip with a reason when it is absent.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import av
import numpy as np
import pytest

from cctrace.footage.writer import write_video, x264_options

REPO_ROOT = Path(__file__).resolve().parents[2]
N_FRAMES = 60
GOP_10 = 10
GOP_25 = 25
B_FRAMES = 2


def shared_data_dir() -> Path:
    """``$CCTRACE_SHARED_DATA``, else ``<repo>/../shared/data``."""
    env = os.environ.get("CCTRACE_SHARED_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


def h264_encoder() -> str | None:
    """An H.264 encoder this PyAV build has, or None."""
    for name in ("libx264", "libopenh264"):
        try:
            av.codec.Codec(name, "w")
        except ValueError:  # av.codec.codec.UnknownCodecError
            continue
        return name
    return None


def write_clip(
    path: Path,
    frames: Sequence[np.ndarray],
    fps: int,
    codec: str,
    *,
    gop: int = 25,
    b_frames: int = B_FRAMES,
    fmt: str | None = None,
    faststart: bool = False,
    metadata: dict[str, str] | None = None,
) -> Path:
    """Encode BGR ``frames`` with PyAV at a constant ``fps``; fixed GOP, no scene cuts."""
    options: dict[str, str] = {}
    if codec == "libx264":
        options = x264_options(crf=23, gop=gop, b_frames=b_frames, scenecut=False)
    elif codec == "mpeg4":
        options = {"g": str(gop), "bf": str(b_frames)}
    return write_video(
        path,
        frames,
        fps,
        codec=codec,
        options=options,
        container_format=fmt,
        container_options={"movflags": "faststart"} if faststart else {},
        metadata=metadata,
    )


@pytest.fixture(scope="session")
def clip_writer() -> Callable[..., Path]:
    """The :func:`write_clip` helper, for tests that make their own clips."""
    return write_clip


@pytest.fixture(scope="session")
def pets_view001() -> Path:
    """The shared PETS2009 View_001 clip (skips when the shared data is absent)."""
    path = shared_data_dir() / "pets2009-s2l1" / "view001.mp4"
    if not path.is_file():
        pytest.skip(f"shared reference data not found: {path} (set CCTRACE_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def pets_frames(pets_view001: Path) -> list[np.ndarray]:
    """The first 60 frames of PETS2009 View_001, BGR."""
    frames: list[np.ndarray] = []
    with av.open(str(pets_view001)) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="bgr24"))
            if len(frames) == N_FRAMES:
                break
    return frames


@pytest.fixture(scope="session")
def clips(
    tmp_path_factory: pytest.TempPathFactory, pets_frames: list[np.ndarray]
) -> dict[str, Path]:
    """Real clips of the 60 PETS frames: name -> path.

    H.264 ones have a keyframe every ``GOP_10``/``GOP_25`` frames (one per second) and
    ``B_FRAMES`` B-frames; the ``.mp4`` are muxed with the index first (faststart).
    """
    encoder = h264_encoder()
    if encoder is None:
        pytest.skip("this PyAV build has no H.264 encoder")
    root = tmp_path_factory.mktemp("clips")
    frames = pets_frames
    made = {
        "h264_10.mp4": write_clip(
            root / "h264_10.mp4", frames, 10, encoder, gop=GOP_10, faststart=True
        ),
        "h264_25.mp4": write_clip(
            root / "h264_25.mp4", frames, 25, encoder, gop=GOP_25, faststart=True
        ),
        "h264_25_tail_index.mp4": write_clip(
            root / "h264_25_tail_index.mp4", frames, 25, encoder, gop=GOP_25
        ),
        "h264_10.mkv": write_clip(root / "h264_10.mkv", frames, 10, encoder, gop=GOP_10),
        "h264_25.ts": write_clip(root / "h264_25.ts", frames, 25, encoder, gop=GOP_25),
        "mjpeg_10.avi": write_clip(root / "mjpeg_10.avi", frames, 10, "mjpeg"),
        "mjpeg_10.mkv": write_clip(root / "mjpeg_10.mkv", frames, 10, "mjpeg"),
        "mpeg4_25.avi": write_clip(root / "mpeg4_25.avi", frames, 25, "mpeg4", gop=12),
    }
    return made
