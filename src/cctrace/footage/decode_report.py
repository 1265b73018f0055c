"""The record of what happened while decoding one file."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

log = logging.getLogger(__name__)


@dataclass
class DecodeReport:
    """What happened while decoding one file (pass a fresh one per file).

    ``frames_failed`` counts frames lost inside the stream, from gaps in the
    presentation indices (when non-reference frames are skipped on purpose, gaps are
    expected, and it falls back to ``packets_failed``, the packets the decoder
    rejected). ``truncated`` is set when the file ends before its declared
    length or the demuxer gave up; ``last_good_offset_s`` is the offset (seconds, at the
    effective fps) of the last frame that decoded.
    """

    MAX_ERRORS: ClassVar[int] = 100

    path: Path | None = None
    frames_decoded: int = 0
    """Frames the decoder output (including those not sampled)."""
    frames_yielded: int = 0
    """Frames sampled and yielded as :class:`~cctrace.types.Frame`."""
    frames_failed: int = 0
    packets_failed: int = 0
    frames_corrupt: int = 0
    """Frames the decoder output but flagged as corrupt (concealed errors); still yielded."""
    frames_expected: int | None = None
    last_good_offset_s: float | None = None
    truncated: bool = False
    skipped_nonref: bool = False
    keyframes_only: bool = False
    """Only key frames were decoded (the camera's ``decode: keyframes``)."""
    errors: list[str] = field(default_factory=list)
    """The first ``MAX_ERRORS`` messages; later ones are only counted."""
    errors_dropped: int = 0

    def add_error(self, message: str) -> None:
        """Log and keep ``message`` (after ``MAX_ERRORS`` messages, only count it)."""
        if len(self.errors) < self.MAX_ERRORS:
            log.warning("%s: %s", self.path, message)
            self.errors.append(message)
            return
        if not self.errors_dropped:
            log.warning("%s: over %d errors; no longer logging them", self.path, len(self.errors))
        self.errors_dropped += 1

    @property
    def ok(self) -> bool:
        """True when nothing failed, nothing was corrupt and the file was complete."""
        return not (
            self.frames_failed
            or self.packets_failed
            or self.frames_corrupt
            or self.truncated
            or self.errors
        )

    def summary(self) -> str:
        """One line for logs and reports: counts, truncation and the first errors."""
        parts = [f"{self.frames_decoded} frames decoded, {self.frames_yielded} analysed"]
        if self.frames_failed or self.packets_failed:
            parts.append(f"{self.frames_failed} frames lost ({self.packets_failed} bad packets)")
        if self.frames_corrupt:
            parts.append(f"{self.frames_corrupt} concealed (corrupt) frames")
        if self.truncated:
            last = "none" if self.last_good_offset_s is None else f"{self.last_good_offset_s:.2f} s"
            parts.append(f"truncated (last good frame at {last})")
        if self.errors:
            more = len(self.errors) - 3 + self.errors_dropped
            parts.append("; ".join(self.errors[:3]) + (f" (+{more} more)" if more > 0 else ""))
        return ", ".join(parts)
