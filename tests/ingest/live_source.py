"""A real live video source for the live-camera tests (run as a script).

Loops a clip in real time through FFmpeg's own muxers (via PyAV, the FFmpeg libraries
cctrace already depends on; no ``ffmpeg`` binary on this machine):

- ``hls``: writes a live HLS playlist (``live.m3u8`` + 1 s MPEG-TS segments, old ones
  deleted) into a folder that a plain HTTP server serves;
- ``rtsp``: pushes the stream as an RTSP client (ANNOUNCE/RECORD over TCP) to a URL
  where cctrace listens (``rtsp_flags=listen``).

Usage: ``python live_source.py CLIP (hls DIR | rtsp URL) [--fps N] [--width W]``.
It runs until killed (SIGTERM/SIGKILL), which is how the tests make the source go away.
"""

from __future__ import annotations

import argparse
import sys
import time
from fractions import Fraction

import av


def main(argv: list[str]) -> int:
    """Stream ``CLIP`` in a loop, paced to real time, until killed."""
    parser = argparse.ArgumentParser()
    parser.add_argument("clip")
    parser.add_argument("kind", choices=["hls", "rtsp"])
    parser.add_argument("target")
    parser.add_argument("--fps", type=int, default=10)
    parser.add_argument("--width", type=int, default=0, help="scale to this width (0: keep)")
    args = parser.parse_args(argv)
    if args.kind == "hls":
        out = av.open(
            f"{args.target}/live.m3u8",
            mode="w",
            format="hls",
            options={
                "hls_time": "1",
                "hls_list_size": "6",
                "hls_flags": "delete_segments+omit_endlist",
            },
        )
    else:
        out = av.open(args.target, mode="w", format="rtsp", options={"rtsp_transport": "tcp"})
    stream = None
    n = 0
    t0 = time.monotonic()
    while True:
        clip = av.open(args.clip)
        for frame in clip.decode(video=0):
            if stream is None:
                width = args.width or frame.width
                height = round(frame.height * width / frame.width / 2) * 2
                stream = out.add_stream(
                    "libx264",
                    rate=args.fps,
                    options={"preset": "ultrafast", "tune": "zerolatency", "g": str(args.fps)},
                )
                stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            image = frame.reformat(width=stream.width, height=stream.height, format="yuv420p")
            image.pts, image.time_base = n, Fraction(1, args.fps)
            image.pict_type = av.video.frame.PictureType.NONE
            for packet in stream.encode(image):
                out.mux(packet)
            n += 1
            wait = t0 + n / args.fps - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        clip.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
