"""Write BGR frames to a video file, repeatably.

The demo site, the evaluation scenes and the tests make clips of their own from real
footage. Lossy libx264 through PyAV is not repeatable: without time stamps on the frames,
with several encoder threads, or while another decoder runs in the same process, two
encodes of the same frames gave different files and different decoded pixels (measured
on the demo's PETS crops: 250 of 795 frames differed), so the demo's ingest, and every
test built on it, varied from run to run.

- ``x264_options(lossless=True)`` (the demo's cut cameras): x264 at qp 0 decodes to
  exactly the frames given, whatever the encoder does, so everything downstream is the
  same on every run (about 8x the size of crf 20).
- lossy (the default): each frame carries its index as ``pts`` (the codec's ``1/fps``
  time base) and x264 runs on one thread. That is usually repeatable but not always: two
  encodes of the same in-memory frames differed once inside a long test run, so nothing
  may rely on a lossy clip's exact bytes or pixels.

``tests/footage/test_footage_writer.py`` checks the lossless cut byte for byte.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from cctrace.errors import FootageError


def x264_options(
    *,
    lossless: bool = False,
    crf: int = 20,
    preset: str = "veryfast",
    gop: int | None = None,
    b_frames: int | None = None,
    scenecut: bool = True,
) -> dict[str, str]:
    """libx264 options: one thread, ``crf`` (or qp 0 when ``lossless``), fixed GOP when
    given."""
    params = ["threads=1"]
    if gop is not None:
        params += [f"keyint={gop}", f"min-keyint={gop}"]
    if b_frames is not None:
        params.append(f"bframes={b_frames}")
    if not scenecut:
        params.append("scenecut=0")
    quality = {"qp": "0"} if lossless else {"crf": str(crf)}
    return {**quality, "preset": preset, "x264-params": ":".join(params)}


def write_video(
    path: str | Path,
    frames: Iterable[np.ndarray],
    fps: float | Fraction,
    *,
    codec: str = "libx264",
    options: Mapping[str, str] | None = None,
    container_format: str | None = None,
    container_options: Mapping[str, str] | None = None,
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Encode BGR ``frames`` (all the same size) at a constant ``fps``; return ``path``.

    Frame ``i`` is stamped ``pts = i`` in the codec's ``1/fps`` time base. ``options`` default to
    :func:`x264_options` for libx264. The file is written in place; callers that must
    not leave a partial file write to a temporary name and rename it.
    """
    path = Path(path)
    rate = Fraction(fps).limit_denominator(1001)
    if rate <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if options is None:
        options = x264_options() if codec == "libx264" else {}
    count = 0
    with av.open(
        str(path), "w", format=container_format, options=dict(container_options or {})
    ) as out:
        out.metadata.update(dict(metadata or {}))
        stream = out.add_stream(codec, rate=rate, options=dict(options))
        if not isinstance(stream, av.video.stream.VideoStream):
            raise FootageError(f"{codec} did not give a video stream")
        # Do not set time bases here: with an explicit stream/codec time base the encode
        # is no longer repeatable (measured: three encodes, three different files).
        if codec == "libx264":
            stream.codec_context.thread_count = 1
        for image in frames:
            if count == 0:
                height, width = image.shape[:2]
                stream.width, stream.height = width, height
                stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
            frame.pts = count  # in the codec's 1/fps time base
            for packet in stream.encode(frame):
                out.mux(packet)
            count += 1
        if count == 0:
            raise FootageError(f"{path}: no frames to write")
        for packet in stream.encode():
            out.mux(packet)
    return path


def write_video_with_substream(
    path: str | Path,
    frames: Iterable[np.ndarray],
    fps: float | Fraction,
    sub_size: tuple[int, int],
    *,
    options: Mapping[str, str] | None = None,
) -> Path:
    """Like :func:`write_video` (libx264), with a second, smaller video stream of the same
    frames scaled to ``sub_size`` (width, height): the main stream and sub-stream an NVR
    records side by side. Stream 0 is the main stream."""
    import cv2

    path = Path(path)
    rate = Fraction(fps).limit_denominator(1001)
    if rate <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    sub_w, sub_h = sub_size
    if sub_w <= 0 or sub_h <= 0 or sub_w % 2 or sub_h % 2:
        raise ValueError(f"sub_size must be positive even numbers, got {sub_size}")
    opts = dict(options or x264_options())
    count = 0
    with av.open(str(path), "w") as out:
        streams = [out.add_stream("libx264", rate=rate, options=opts) for _ in range(2)]
        for stream in streams:
            if not isinstance(stream, av.video.stream.VideoStream):
                raise FootageError("libx264 did not give a video stream")
            stream.codec_context.thread_count = 1
            stream.pix_fmt = "yuv420p"
        for image in frames:
            if count == 0:
                streams[0].width, streams[0].height = image.shape[1], image.shape[0]
                streams[1].width, streams[1].height = sub_w, sub_h
            small = cv2.resize(image, (sub_w, sub_h), interpolation=cv2.INTER_AREA)
            for stream, picture in zip(streams, (image, small), strict=True):
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format="bgr24")
                frame.pts = count
                for packet in stream.encode(frame):
                    out.mux(packet)
            count += 1
        if count == 0:
            raise FootageError(f"{path}: no frames to write")
        for stream in streams:
            for packet in stream.encode():
                out.mux(packet)
    return path
