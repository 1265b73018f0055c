"""Packet-level decoding with error recovery, seeking and pts -> index (internal).

Frame indices are ``round((pts - origin) * time_base * container_fps)``, where
``origin`` is the pts of the first frame the file decodes to; files without pts
(raw ``.h264``) fall back to counting frames.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from fractions import Fraction
from itertools import chain
from pathlib import Path
from typing import Literal

import av.error
import av.packet
import av.video.frame

from cctrace.errors import FootageError
from cctrace.footage import _av
from cctrace.footage.decode_report import DecodeReport

log = logging.getLogger(__name__)

VideoFrame = av.video.frame.VideoFrame

_MAX_DEMUX_RETRIES = 20
"""Consecutive demuxer errors after which the rest of the file is given up."""
_ESTIMATE_TOLERANCE_S = 0.5
"""How far a file may fall short of a length estimated from its duration (not from a
declared frame count, which must be met exactly) before it counts as truncated."""
_TS_PACKET = 188
_M2TS_PACKET = 192
"""MPEG-TS packet sizes in bytes (M2TS / Blu-ray adds a 4-byte timestamp)."""
_SEEK_BACKOFF_S = (0.0, 2.0, 8.0, 30.0)
"""Extra seconds to seek back when a seek lands after the wanted frame (MPEG-TS)."""


class Decoder:
    """One open video stream: decoded frames in presentation order, and their indices."""

    def __init__(
        self,
        path: Path,
        report: DecodeReport,
        rate: Fraction,
        opened: tuple[_av.InputContainer, _av.VideoStream],
    ) -> None:
        self.path = path
        self.report = report
        self.rate = rate
        """Container frame rate: turns pts into frame indices."""
        self.skip_nonref = False
        self.keyframes_only = False
        self.threads = 0
        """FFmpeg decoding threads; 0: FFmpeg's default."""
        self.origin: int | None = None
        self._max_packet_pts: int | None = None
        self._container, self._stream = opened
        self.which = "main"
        """Which video stream of the file (``main`` or ``sub``), for reopening."""
        self._configure()
        self._tolerance = 0
        self.report.frames_expected = self._expected_frames()

    @classmethod
    def open(
        cls, path: Path, report: DecodeReport, fallback_rate: float | None, stream: str = "main"
    ) -> Decoder:
        """Open ``path`` (its ``main`` or ``sub`` video stream, see ``_av.video_stream``);
        FootageError if it is not decodable video or has no frame rate."""
        container = _av.open_input(path)
        chosen = _av.video_stream(container, path, stream)
        rate = _av.container_rate(chosen)
        if rate is None:
            if fallback_rate is None:
                container.close()
                raise FootageError(
                    f"{path}: the file declares no frame rate; set source_fps for this camera"
                )
            rate = Fraction(fallback_rate).limit_denominator(1_000_000)
        decoder = cls(path, report, rate, (container, chosen))
        decoder.which = stream
        return decoder

    def _configure(self) -> None:
        ctx = self._stream.codec_context
        ctx.thread_type = "AUTO"
        if self.threads:
            ctx.thread_count = self.threads
        ctx.skip_frame = self._skip_mode()

    def _skip_mode(self) -> Literal["NONKEY", "NONREF", "DEFAULT"]:
        if self.keyframes_only:
            return "NONKEY"
        return "NONREF" if self.skip_nonref else "DEFAULT"

    @property
    def skips_frames(self) -> bool:
        """True when the decoder leaves frames out on purpose (index gaps are not losses)."""
        return self.skip_nonref or self.keyframes_only

    def set_skip_nonref(self, skip: bool) -> None:
        """Skip non-reference frames in the decoder (set before decoding starts)."""
        self.skip_nonref = skip
        self.report.skipped_nonref = skip
        self._stream.codec_context.skip_frame = self._skip_mode()

    def set_threads(self, count: int) -> None:
        """FFmpeg decoding threads (set before decoding starts)."""
        self.threads = count
        self._stream.codec_context.thread_count = count

    def set_keyframes_only(self, only: bool) -> None:
        """Decode key (I-) frames only (``skip_frame = NONKEY``; set before decoding)."""
        self.keyframes_only = only
        self.report.keyframes_only = only
        self._stream.codec_context.skip_frame = self._skip_mode()

    def close(self) -> None:
        """Release the file."""
        self._container.close()

    # -- indices -------------------------------------------------------------------------

    def _pts_index(self, pts: int) -> int:
        time_base = self._stream.time_base
        origin = self.origin if self.origin is not None else (self._stream.start_time or 0)
        if time_base is None:
            raise FootageError(f"{self.path}: stream has no time base")
        return max(0, round(Fraction(pts - origin) * time_base * self.rate))

    def index_of(self, frame: VideoFrame, fallback: int) -> int:
        """Presentation index of ``frame`` from its pts; ``fallback`` when it has none."""
        if frame.pts is None or self._stream.time_base is None:
            return fallback
        if self.origin is None:
            self.origin = frame.pts
        return self._pts_index(frame.pts)

    def _expected_frames(self) -> int | None:
        if self._stream.frames and self._stream.frames > 0:
            return int(self._stream.frames)
        duration = _av.duration_s(self._container, self._stream)
        if duration is None:
            return None
        self._tolerance = math.ceil(_ESTIMATE_TOLERANCE_S * self.rate)
        return round(duration * self.rate)

    def check_complete(self, last_index: int, *, last_frame_corrupt: bool = False) -> None:
        """After the last frame: flag the file as truncated if it ended early.

        A file is truncated when it ends before its declared length, when its last frame
        decoded damaged (cut inside a frame), or when it is MPEG-TS and ends inside a
        transport packet (its size is no multiple of 188 or 192 bytes). MPEG-TS declares
        no length, so a cut between packets and frames cannot be told.
        """
        if last_frame_corrupt:
            self._truncated(f"the last frame (#{last_index}) is damaged: the file was cut")
        elif self._ends_inside_ts_packet():
            self._truncated("the file ends inside an MPEG-TS packet: it was cut")
        expected = self.report.frames_expected
        if expected is None or self._max_packet_pts is None or self.origin is None:
            return
        last_packet = self._pts_index(self._max_packet_pts)
        if max(last_packet, last_index) < expected - 1 - self._tolerance:
            self._truncated(
                f"file ends at frame {max(last_packet, last_index)} of {expected} declared"
            )

    def _truncated(self, why: str) -> None:
        self.report.truncated = True
        self.report.add_error(f"{why} (truncated)")

    def _ends_inside_ts_packet(self) -> bool:
        if "mpegts" not in (self._container.format.name or ""):
            return False
        try:
            size = self.path.stat().st_size
        except OSError:
            return False
        return size % _TS_PACKET != 0 and size % _M2TS_PACKET != 0

    # -- decoding ------------------------------------------------------------------------

    def _decode_packet(self, packet: av.packet.Packet) -> list[VideoFrame]:
        if packet.pts is not None and (
            self._max_packet_pts is None or packet.pts > self._max_packet_pts
        ):
            self._max_packet_pts = packet.pts
        try:
            return [f for f in packet.decode() if isinstance(f, VideoFrame)]
        except av.error.EOFError:
            return []
        except av.error.FFmpegError as exc:
            self.report.packets_failed += 1
            where = f"pts {packet.pts}" if packet.pts is not None else "unknown position"
            self.report.add_error(f"decode error at {where}: {exc.strerror or exc}")
            return []

    def _decoded(self) -> Iterator[VideoFrame]:
        """Frames in presentation order from the current position; errors are recorded."""
        packets = self._container.demux(self._stream)
        failures = 0
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except av.error.FFmpegError as exc:
                failures += 1
                self.report.add_error(f"demux error: {exc.strerror or exc}")
                if failures >= _MAX_DEMUX_RETRIES:
                    self.report.truncated = True
                    self.report.add_error("too many demux errors; rest of file given up")
                    yield from self._flush()
                    return
                packets = self._container.demux(self._stream)
                continue
            failures = 0
            yield from self._decode_packet(packet)

    def _flush(self) -> Iterator[VideoFrame]:
        try:
            frames = self._stream.codec_context.decode(None)
        except av.error.FFmpegError as exc:
            self.report.add_error(f"decoder flush failed: {exc.strerror or exc}")
            return
        yield from (f for f in frames if isinstance(f, VideoFrame))

    def _restart(self) -> Iterator[VideoFrame]:
        """Reopen the file and decode from its start."""
        self._container.close()
        self._container = _av.open_input(self.path)
        self._stream = _av.video_stream(self._container, self.path, self.which)
        self._configure()
        return self._decoded()

    def frames_from(self, first_index: int) -> Iterator[VideoFrame]:
        """Decoded frames starting at or before ``first_index`` (seeking when > 0)."""
        head = self._decoded()
        first = next(head, None)
        if first is None:
            return iter(())
        if first.pts is None or self._stream.time_base is None:
            # Indices come from counting frames, so every frame must be decoded.
            if self.skips_frames:
                log.info("%s: no timestamps; decoding every frame (no frame skip)", self.path)
                self.set_skip_nonref(False)
                self.set_keyframes_only(False)
                head = self._restart()
                first = next(head, None)
                if first is None:
                    return iter(())
            if first_index > 0:
                log.info("%s: no timestamps; decoding from the start to resume", self.path)
            return chain([first], head)
        self.origin = first.pts
        if first_index <= 0:
            return chain([first], head)
        return self._seek_to(first_index)

    def _seek_to(self, first_index: int) -> Iterator[VideoFrame]:
        """Seek to the keyframe at or before ``first_index``; decode from the start if unsure."""
        origin, time_base = self.origin, self._stream.time_base
        if origin is None or time_base is None:
            return self._restart()
        target = Fraction(first_index) / self.rate / time_base
        for back_s in _SEEK_BACKOFF_S:
            target_pts = origin + math.floor(target - back_s / time_base)
            if target_pts <= origin:
                break
            try:
                self._container.seek(target_pts, stream=self._stream, backward=True)
            except av.error.FFmpegError as exc:
                log.info("%s: seek failed (%s); decoding from the start", self.path, exc)
                break
            frames = self._decoded()
            landed = next(frames, None)
            if landed is not None and self.index_of(landed, fallback=first_index) <= first_index:
                return chain([landed], frames)
            # Landed after the frame, or on no decodable frame (MPEG-TS seeks by bytes).
            where = "no frame" if landed is None else f"pts {landed.pts}"
            log.debug("%s: seek landed on %s; seeking further back", self.path, where)
        return self._restart()
