"""Read a live stream (RTSP, HLS, HTTP) with PyAV: timed frames, gaps and reconnection.

:func:`live_frames` yields sampled BGR :class:`~cctrace.types.Frame` objects for as long
as it is not stopped, and a :class:`StreamGap` wherever the picture has a hole: the
stream was lost (server gone, network down, nothing received for ``timeout_s``, end of
stream) or its timestamps jumped (forwards by more than ``MAX_PTS_JUMP_S`` or
backwards). After a loss it reconnects by itself, waiting by :class:`Backoff`
(exponential from ``0.5`` s, capped, with jitter) between attempts; the wait starts over
once a frame decodes again.

**Clock.** A frame's time is the stream's wall time: when the server states the real
time of the stream's start (FFmpeg's ``start_time_realtime``: RTSP from RTCP sender
reports), that time plus the frame's pts offset; otherwise this machine's clock
(UTC) when the first frame of the connection decoded, plus the pts offset from that
frame. Frames are then as right as the server's (or this machine's) clock, less the
delay of the first frame (network and buffering: for HLS up to about one segment, as
reading starts at the newest segment). After every reconnection or timestamp jump the
clock is taken again, so stream time never runs on across a hole.

**Timeouts.** Opening and every read are bounded by ``timeout_s`` (PyAV's interrupt
callback), and FFmpeg's own socket timeouts are set too (``timeout`` for RTSP,
``rw_timeout`` for HTTP), so a server that vanishes without closing the connection is
noticed within ``timeout_s``.

URLs are logged and reported masked (:mod:`cctrace.footage.urls`); FFmpeg error text
is masked too.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Literal

import av
import av.container
import av.error
import av.video.frame
import numpy as np

from cctrace.footage.urls import StreamUrl, mask_credentials
from cctrace.types import Frame

log = logging.getLogger(__name__)

MAX_PTS_JUMP_S = 5.0
"""Consecutive frames further apart than this in stream time are a gap (a camera that
dropped out while the connection stayed up, a server that restarted its clock)."""
MAX_REALTIME_SKEW_S = 3600.0
"""A server-stated start time further than this from this machine's clock is ignored
(a camera whose clock was never set)."""
REPLAY_WINDOW_S = 10.0
"""After a reconnection, frames at or before the last stream time already read are
skipped when the stream resumes at most this far before it: an HLS playlist that stopped
updating (its encoder died, its web server did not) serves its last segment again on
every reconnection, and that is no new footage. A source that restarted its clock from
zero is not affected unless the previous run was shorter than this."""
BACKOFF_FIRST_S = 0.5
"""First wait before reconnecting."""
_STOP_POLL_S = 0.1

GapKind = Literal["lost", "jump"]
StateName = Literal["connecting", "connected", "reconnecting", "stopped"]


@dataclass(frozen=True)
class StreamGap:
    """A hole in the stream: tracking must end here."""

    kind: GapKind
    """``lost`` (the connection failed or ended) or ``jump`` (timestamps jumped)."""
    last_frame_at: datetime | None
    """Time of the last frame before the hole (None when nothing had decoded)."""
    reason: str
    """What happened, credentials masked."""


@dataclass(frozen=True)
class StreamState:
    """Where a live reader stands, for status displays."""

    state: StateName
    since: datetime
    """When it entered this state (UTC)."""
    url: str
    """The stream address, masked."""
    detail: str = ""
    """The last error (masked), or what the stream is (codec, size, rate)."""
    clock: str = ""
    """``server`` (start_time_realtime) or ``local`` (this machine at the first frame)."""


class Backoff:
    """Exponential waits between reconnection attempts: ``first_s``, x2, ... up to
    ``max_s``, each drawn uniformly from [50 %, 100 %] of that (jitter, so many cameras
    behind one failed switch do not reconnect in lockstep)."""

    def __init__(
        self,
        max_s: float,
        first_s: float = BACKOFF_FIRST_S,
        rng: random.Random | None = None,
    ) -> None:
        if first_s <= 0 or max_s < first_s:
            raise ValueError(f"need 0 < first_s <= max_s, got {first_s}, {max_s}")
        self.first_s = first_s
        self.max_s = max_s
        self.attempts = 0
        self._rng = rng or random.Random()

    def next_wait(self) -> float:
        """Seconds to wait before the next attempt (and count the attempt)."""
        ceiling = min(self.max_s, self.first_s * 2.0**self.attempts)
        self.attempts += 1
        return ceiling * self._rng.uniform(0.5, 1.0)

    def reset(self) -> None:
        """A connection worked: the next failure waits ``first_s`` again."""
        self.attempts = 0


def open_options(url: StreamUrl, timeout_s: float, *, listen: bool = False) -> dict[str, str]:
    """FFmpeg options to open ``url`` with socket timeouts (microseconds)."""
    micros = str(round(timeout_s * 1_000_000))
    if url.scheme.startswith("rtsp"):
        options = {"rtsp_transport": "tcp", "timeout": micros}
        if listen:
            options = {"rtsp_flags": "listen", "listen_timeout": str(max(1, round(timeout_s)))}
        return options
    options = {"rw_timeout": micros, "timeout": micros}
    if url.is_hls:
        options["live_start_index"] = "-1"  # the newest segment: least delay, best clock
    return options


def open_stream(
    url: StreamUrl, timeout_s: float, *, listen: bool = False
) -> av.container.InputContainer:
    """Open a live stream; raises ``av.error.FFmpegError`` or ``OSError`` on failure."""
    timeout = timeout_s if not listen else max(timeout_s, 1.0) + 5.0
    return av.open(
        url.reveal(),
        mode="r",
        options=open_options(url, timeout_s, listen=listen),
        timeout=(timeout, timeout_s),
        metadata_errors="ignore",
    )


class _Clock:
    """Stream time -> UTC for one connection (see the module docstring)."""

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self.anchor: datetime | None = None
        self.origin_s = 0.0
        self.source = "local"

    def start(self, stream_s: float, realtime_us: int | None, start_s: float | None) -> None:
        wall = datetime.fromtimestamp(self._now(), UTC)
        self.anchor, self.origin_s, self.source = wall, stream_s, "local"
        if realtime_us and start_s is not None:
            server = datetime.fromtimestamp(realtime_us / 1e6, UTC) + timedelta(
                seconds=stream_s - start_s
            )
            if abs((server - wall).total_seconds()) <= MAX_REALTIME_SKEW_S:
                self.anchor, self.source = server, "server"
            else:
                log.warning(
                    "stream clock %s is %.0f s off this machine's; using this machine's",
                    server.isoformat(),
                    (server - wall).total_seconds(),
                )

    def at(self, stream_s: float) -> datetime:
        assert self.anchor is not None
        return self.anchor + timedelta(seconds=stream_s - self.origin_s)


def live_frames(
    url: StreamUrl,
    camera_id: str,
    analysis_fps: float,
    *,
    timeout_s: float = 10.0,
    backoff: Backoff | None = None,
    stop: Callable[[], bool] = lambda: False,
    listen: bool = False,
    on_state: Callable[[StreamState], None] | None = None,
    now: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Frame | StreamGap]:
    """Frames of a live stream sampled at (at most) ``analysis_fps``, and its gaps.

    Runs until ``stop()`` is true (checked between frames and while waiting; a blocked
    read returns within ``timeout_s``). ``Frame.offset_s`` is seconds since the first
    frame of this call; ``Frame.frame_index`` counts stream frames (at the stream's
    rate) over the same span, so indices keep increasing across reconnections.
    ``on_state`` hears every change of state (connecting, connected, reconnecting,
    stopped).
    """
    if analysis_fps <= 0:
        raise ValueError(f"analysis_fps must be > 0, got {analysis_fps}")
    backoff = backoff or Backoff(30.0)
    shown = url.masked
    origin: datetime | None = None
    last_index = -1
    last_stream_s: float | None = None
    state: StateName | None = None
    since = datetime.fromtimestamp(now(), UTC)

    def report(new: StateName, detail: str = "", clock: str = "") -> None:
        """Tell ``on_state``; ``since`` changes only when the state does."""
        nonlocal state, since
        if new != state:
            state, since = new, datetime.fromtimestamp(now(), UTC)
        if on_state is not None:
            on_state(StreamState(new, since, shown, detail, clock))

    def wait(seconds: float) -> None:
        end = now() + seconds
        while not stop() and now() < end:
            sleep(min(_STOP_POLL_S, max(0.0, end - now())))

    report("connecting")
    while not stop():
        try:
            container = open_stream(url, timeout_s, listen=listen)
        except (av.error.FFmpegError, OSError) as exc:
            why = _why(exc)
            log.info("%s: cannot connect (%s)", shown, why)
            report("reconnecting" if origin is not None else "connecting", why)
            wait(backoff.next_wait())
            continue
        session = _Session(container, url, analysis_fps, now, replay_until=last_stream_s)
        last_at: datetime | None = None
        why = "end of stream"
        try:
            for item in session.frames(stop):
                if isinstance(item, StreamGap):
                    yield item
                    continue
                if last_at is None:
                    backoff.reset()
                    report("connected", session.describe(), session.clock.source)
                    log.info("%s: connected (%s)", shown, session.describe())
                if origin is None:
                    origin = item.timestamp
                offset = (item.timestamp - origin).total_seconds()
                index = max(last_index + 1, round(offset * session.rate))
                last_index = index
                last_at = item.timestamp
                yield Frame(camera_id, index, item.timestamp, offset, item.image)
        except (av.error.FFmpegError, OSError) as exc:
            why = _why(exc)
        finally:
            container.close()
            last_stream_s = session.last_stream_s
        if stop():
            break
        log.warning("%s: stream lost (%s); reconnecting", shown, why)
        yield StreamGap("lost", last_at, why)
        report("reconnecting", why)
        wait(backoff.next_wait())
    report("stopped")


@dataclass(frozen=True)
class _Sample:
    timestamp: datetime
    image: np.ndarray


class _Session:
    """One open connection: decoded frames, sampled, on the stream clock."""

    def __init__(
        self,
        container: av.container.InputContainer,
        url: StreamUrl,
        analysis_fps: float,
        now: Callable[[], float],
        replay_until: float | None = None,
    ) -> None:
        self.container = container
        self.replay_until = replay_until
        self.last_stream_s = replay_until
        """Stream time of the last frame decoded (kept across connections)."""
        self.url = url
        if not container.streams.video:
            raise OSError("the stream has no video")
        self.stream = container.streams.video[0]
        self.stream.codec_context.thread_type = "AUTO"
        rate = self.stream.average_rate or self.stream.guessed_rate
        self.rate = Fraction(rate) if rate else Fraction(25)
        self.step = 1.0 / analysis_fps
        self.clock = _Clock(now)

    def describe(self) -> str:
        ctx = self.stream.codec_context
        return f"{self.url.kind} {ctx.name} {ctx.width}x{ctx.height} {float(self.rate):g} fps"

    def _stream_s(self, frame: av.video.frame.VideoFrame, fallback: float) -> float:
        if frame.pts is None or frame.time_base is None:
            return fallback
        return float(frame.pts * frame.time_base)

    def frames(self, stop: Callable[[], bool]) -> Iterator[_Sample | StreamGap]:
        """Sampled frames until the stream ends (raises on errors)."""
        last_s: float | None = None
        last_at: datetime | None = None
        next_sample = 0.0
        start_s = self._start_s()
        replay = self.replay_until
        for frame in self.container.decode(self.stream):
            if stop():
                return
            fallback = (last_s if last_s is not None else 0.0) + 1.0 / float(self.rate)
            stream_s = self._stream_s(frame, fallback)
            if replay is not None:
                if replay - REPLAY_WINDOW_S < stream_s <= replay:
                    continue  # the same footage served again (see REPLAY_WINDOW_S)
                replay = None
            self.last_stream_s = stream_s
            if last_s is not None and not -0.5 < stream_s - last_s <= MAX_PTS_JUMP_S:
                why = f"timestamps jumped {stream_s - last_s:+.1f} s"
                log.warning("%s: %s; tracking restarts", self.url.masked, why)
                yield StreamGap("jump", last_at, why)
                last_s = None
            if last_s is None:
                self.clock.start(stream_s, self.container.start_time_realtime, start_s)
                next_sample = stream_s
            elif stream_s <= last_s:
                continue  # a repeated timestamp: nothing new to analyse
            last_s = stream_s
            if stream_s + 1e-6 < next_sample:
                continue
            next_sample = max(next_sample + self.step, stream_s)
            last_at = self.clock.at(stream_s)
            yield _Sample(last_at, np.asarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8))

    def _start_s(self) -> float | None:
        start = self.container.start_time
        if start is None:
            return None
        return float(start) / av.time_base


def _why(exc: BaseException) -> str:
    if isinstance(exc, av.error.FFmpegError):
        text = exc.strerror or type(exc).__name__
    else:
        text = str(exc) or type(exc).__name__
    return mask_credentials(text)


__all__ = [
    "BACKOFF_FIRST_S",
    "MAX_PTS_JUMP_S",
    "REPLAY_WINDOW_S",
    "Backoff",
    "StreamGap",
    "StreamState",
    "live_frames",
    "open_options",
    "open_stream",
]
