"""Probe and decode footage files with PyAV.

``probe`` reads a file's headers; ``iter_frames`` yields BGR :class:`~cctrace.types.Frame`
objects sampled at (at most) an analysis rate, with indices and timestamps taken from
the frames' presentation timestamps, so they stay right after a seek (resume) and when
the decoder skips frames.

Speed: only sampled frames are converted to BGR; decoding is threaded; and when the
analysis rate is far below the file's rate (``NONREF_MIN_RATIO``), the decoder skips
non-reference frames (``skip_frame = "NONREF"``: B-frames nothing depends on). A sample
then lands on the first *decoded* frame at or after its time, which may be up to a
B-frame run (usually 1-3 frames) later than without the skip; indices and timestamps
are still the true ones of the frame yielded.

Decoding less: ``keyframes_only`` decodes the key (I-) frames alone (``skip_frame =
"NONKEY"``): every key frame the sampler keeps is analysed at its true index and time,
so a camera with a 1 s GOP is analysed at (at most) 1 fps for a fraction of the decode
cost. ``stream="sub"`` decodes a file's lowest-resolution video stream (an NVR's
sub-stream recorded beside the main one) instead of its first one.

Robustness: decoder and demuxer errors mid-stream are logged, counted in a
:class:`DecodeReport` and decoding goes on with the next packet; a file that ends early
(truncated) keeps what decoded. A file that cannot be opened as video raises
:class:`~cctrace.errors.FootageError` before anything is yielded.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import av.video.frame
import numpy as np

from cctrace.errors import FootageError
from cctrace.footage import _av
from cctrace.footage._decoder import Decoder
from cctrace.footage.decode_report import DecodeReport
from cctrace.footage.sampling import Sampler, as_fraction, first_index_at
from cctrace.types import Frame

log = logging.getLogger(__name__)

NONREF_MIN_RATIO = 4.0
"""Skip non-reference frames when container fps / analysis fps is at least this."""


@dataclass(frozen=True)
class FootageInfo:
    """What a file's headers say about its video stream."""

    path: Path
    codec: str
    width: int
    height: int
    fps: float | None
    """Container average frame rate (FFmpeg's guess when not declared); None if unknown."""
    duration_s: float | None
    n_frames: int | None
    """Declared frame count, else duration x fps; an estimate."""
    creation_time: datetime | None
    """``creation_time`` from the container metadata (aware UTC), or None."""


def probe(path: str | Path, stream: str = "main") -> FootageInfo:
    """Read the headers of a video file (its ``main`` or ``sub`` video stream).

    Raises :class:`FootageError` when the file is missing, not a video, or its codec
    has no decoder.
    """
    path = Path(path)
    container = _av.open_input(path)
    try:
        video = _av.video_stream(container, path, stream)
        rate = _av.container_rate(video)
        duration = _av.duration_s(container, video)
        n_frames: int | None = video.frames if video.frames and video.frames > 0 else None
        if n_frames is None and duration is not None and rate is not None:
            n_frames = round(duration * rate)
        return FootageInfo(
            path=path,
            codec=video.codec_context.name,
            width=video.codec_context.width,
            height=video.codec_context.height,
            fps=float(rate) if rate is not None else None,
            duration_s=duration,
            n_frames=n_frames,
            creation_time=_av.creation_time(container, video),
        )
    finally:
        container.close()


def iter_frames(
    path: str | Path,
    camera_id: str,
    start_time: datetime,
    analysis_fps: float,
    source_fps: float | None = None,
    start_offset_s: float = 0.0,
    errors: DecodeReport | None = None,
    *,
    skip_nonref: bool | None = None,
    keyframes_only: bool = False,
    stream: str = "main",
    decode_threads: int | None = None,
) -> Iterator[Frame]:
    """Yield BGR frames of ``path`` sampled at (at most) ``analysis_fps``.

    - ``start_time``: aware datetime of frame 0; ``Frame.timestamp`` is start_time plus
      the frame's offset, in UTC.
    - ``source_fps``: the rate the scene was recorded at, when the container's rate is
      wrong (PETS2009: container 10 fps, scene ~7 fps); frame i is then at i / source_fps s.
      Frame indices always come from pts and the container rate.
    - ``start_offset_s``: resume: seek to the keyframe before this offset, decode
      forward and yield only frames at or after it; the frames kept are the same as
      in an uninterrupted run (the sample grid is absolute).
    - ``errors``: a :class:`DecodeReport` to fill (counts, errors, truncation).
    - ``skip_nonref``: force (True/False) the decoder's non-reference frame skipping;
      None chooses it when the container rate is ``NONREF_MIN_RATIO`` x analysis_fps
      or more.
    - ``keyframes_only``: decode key frames only (no other frame is decoded or yielded).
    - ``stream``: ``main`` (the file's first video stream) or ``sub`` (its smallest).
    - ``decode_threads``: FFmpeg decoding threads for this file (None: FFmpeg's default,
      one per core; many cameras decoded at once want 1 or 2 each).

    The file is opened when this is called: a missing, unreadable or non-video file
    raises :class:`FootageError` here, before any frame. Decoding errors later are
    counted in ``errors`` and decoding goes on.
    """
    path = Path(path)
    if analysis_fps <= 0:
        raise ValueError(f"analysis_fps must be > 0, got {analysis_fps}")
    if source_fps is not None and source_fps <= 0:
        raise ValueError(f"source_fps must be > 0 when given, got {source_fps}")
    if start_offset_s < 0:
        raise ValueError(f"start_offset_s must be >= 0, got {start_offset_s}")
    if start_time.tzinfo is None or start_time.utcoffset() is None:
        raise ValueError(f"start_time must be timezone-aware, got naive {start_time.isoformat()}")

    report = errors if errors is not None else DecodeReport()
    report.path = path
    if decode_threads is not None and decode_threads < 1:
        raise ValueError(f"decode_threads must be >= 1 when given, got {decode_threads}")
    decoder = Decoder.open(path, report, fallback_rate=source_fps, stream=stream)
    if decode_threads is not None:
        decoder.set_threads(decode_threads)
    effective = as_fraction(source_fps) if source_fps is not None else decoder.rate
    skip = (
        skip_nonref
        if skip_nonref is not None
        else float(decoder.rate) >= NONREF_MIN_RATIO * analysis_fps
    )
    decoder.set_skip_nonref(skip and not keyframes_only)
    decoder.set_keyframes_only(keyframes_only)
    sampler = Sampler(effective, analysis_fps, first_index_at(start_offset_s, effective))
    log.debug(
        "%s: decoding at %s fps (effective %s), sampling %s fps, skip_nonref=%s, "
        "keyframes_only=%s, stream=%s, from #%d",
        path,
        decoder.rate,
        effective,
        analysis_fps,
        decoder.skip_nonref,
        keyframes_only,
        stream,
        sampler.first_index,
    )
    return _generate(decoder, sampler, effective, camera_id, start_time.astimezone(UTC))


def _generate(
    decoder: Decoder,
    sampler: Sampler,
    effective_fps: Fraction,
    camera_id: str,
    start_utc: datetime,
) -> Iterator[Frame]:
    report = decoder.report
    prev = -1
    finished = False
    last_corrupt = False
    first = sampler.first_index
    try:
        for vf in decoder.frames_from(first):
            index = _next_index(decoder, vf, prev, report, first)
            prev = index
            if index < first:
                continue  # decoded again only to reach a resume point: counted before
            report.frames_decoded += 1
            last_corrupt = bool(vf.is_corrupt)
            if last_corrupt:
                report.frames_corrupt += 1
            offset = Fraction(index) / effective_fps
            report.last_good_offset_s = float(offset)
            if not sampler.keep(index):
                continue
            image = np.asarray(vf.to_ndarray(format="bgr24"), dtype=np.uint8)
            report.frames_yielded += 1
            yield Frame(
                camera_id=camera_id,
                frame_index=index,
                timestamp=start_utc + timedelta(seconds=float(offset)),
                offset_s=float(offset),
                image=image,
            )
        finished = True
    finally:
        if finished:
            decoder.check_complete(prev, last_frame_corrupt=last_corrupt)
        if decoder.skips_frames:
            report.frames_failed = max(report.frames_failed, report.packets_failed)
        decoder.close()
    if report.frames_decoded == 0:
        if sampler.first_index == 0:
            raise FootageError(f"{decoder.path}: no frame could be decoded ({report.errors[:3]})")
        report.add_error(f"no frame decoded at or after frame {sampler.first_index}")


def _next_index(
    decoder: Decoder,
    vf: av.video.frame.VideoFrame,
    prev: int,
    report: DecodeReport,
    first: int = 0,
) -> int:
    """The frame's index from pts, kept strictly increasing; gaps are counted as failed.

    Only gaps at or after ``first`` (the resume point) count: those before it were
    counted by the run that decoded them first.
    """
    index = decoder.index_of(vf, fallback=prev + 1)
    if index <= prev:
        # Jittery (variable-rate) timestamps: keep indices unique and ordered.
        return prev + 1
    gap_from = max(prev + 1, first)
    if prev >= 0 and index > gap_from and not decoder.skips_frames:
        missing = index - gap_from
        report.frames_failed += missing
        report.add_error(f"frames {gap_from}..{index - 1} missing ({missing} not decoded)")
    return index


__all__ = ["NONREF_MIN_RATIO", "DecodeReport", "FootageInfo", "iter_frames", "probe"]
