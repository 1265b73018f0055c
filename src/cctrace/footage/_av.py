"""Small PyAV helpers shared by the footage modules (internal).

Every failure to open a file becomes a :class:`~cctrace.errors.FootageError` that
names the file and the reason, so callers never see a raw ``av.error``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

import av
import av.container
import av.error
import av.video.stream

from cctrace.errors import FootageError

InputContainer = av.container.InputContainer
VideoStream = av.video.stream.VideoStream

_MP4_LIKE = {".mp4", ".mov", ".m4v"}
_EARLIEST_PLAUSIBLE_YEAR = 1990
"""Container creation times before this are muxer placeholders (1904, 1970), not real."""


def open_input(path: Path) -> InputContainer:
    """Open ``path`` for reading, or raise :class:`FootageError` naming the reason."""
    if not path.exists():
        raise FootageError(f"{path}: no such file")
    if not path.is_file():
        raise FootageError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise FootageError(f"{path}: file is empty (0 bytes)")
    try:
        container = av.open(str(path), mode="r", metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        hint = ""
        if path.suffix.lower() in _MP4_LIKE:
            hint = (
                "; an MP4/MOV cut short while recording has no index (moov atom) and "
                "cannot be read until it is repaired (e.g. with untrunc)"
            )
        raise FootageError(
            f"{path}: not a readable video file ({exc.strerror or type(exc).__name__}){hint}"
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise FootageError(f"{path}: cannot open ({exc})") from exc
    return container


def video_stream(container: InputContainer, path: Path, which: str = "main") -> VideoStream:
    """The video stream to decode, else :class:`FootageError`: ``main``, the first video
    stream (FFmpeg's order); ``sub``, the one with the fewest pixels (an NVR's low-resolution
    sub-stream recorded beside the main one; the first on ties and in one-stream files)."""
    streams = container.streams
    if not streams.video:
        kinds = ", ".join(sorted({s.type for s in streams})) or "none"
        container.close()
        raise FootageError(f"{path}: no video stream (streams found: {kinds})")
    if which not in ("main", "sub"):
        container.close()
        raise ValueError(f"video stream must be main or sub, got {which!r}")
    stream = streams.video[0]
    if which == "sub":
        sized = [s for s in streams.video if s.codec_context and s.codec_context.width]
        if sized:
            stream = min(sized, key=lambda s: s.codec_context.width * s.codec_context.height)
    ctx = stream.codec_context
    if ctx is None or not ctx.name:
        container.close()
        raise FootageError(f"{path}: video codec is unknown or has no decoder in this FFmpeg build")
    if not ctx.width or not ctx.height:
        container.close()
        raise FootageError(f"{path}: video stream has no frame size (codec {ctx.name})")
    return stream


def container_rate(stream: VideoStream) -> Fraction | None:
    """The container's average frame rate (falling back to FFmpeg's guess), or None."""
    for rate in (stream.average_rate, stream.guessed_rate):
        if rate is not None and rate > 0:
            return Fraction(rate)
    return None


def duration_s(container: InputContainer, stream: VideoStream) -> float | None:
    """Declared duration in seconds (stream, else container), or None if unknown."""
    if stream.duration is not None and stream.time_base is not None and stream.duration > 0:
        return float(stream.duration * stream.time_base)
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    return None


def parse_creation_time(value: str | None) -> datetime | None:
    """Parse a container ``creation_time`` tag (ISO 8601) into aware UTC, or None.

    Naive values are taken as UTC (that is what muxers write). Placeholder dates
    (1904/1970 epochs) and unparsable values give None.
    """
    if not value:
        return None
    text = value.strip().replace(" ", "T", 1)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    parsed = parsed.astimezone(UTC)
    if parsed.year < _EARLIEST_PLAUSIBLE_YEAR:
        return None
    return parsed


def creation_time(container: InputContainer, stream: VideoStream) -> datetime | None:
    """``creation_time`` from the container, else the video stream's metadata."""
    for meta in (container.metadata, stream.metadata):
        found = parse_creation_time(meta.get("creation_time"))
        if found is not None:
            return found
    return None
