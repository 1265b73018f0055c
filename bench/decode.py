"""Decode throughput of cctrace.footage.iter_frames, with and without NONREF skipping.

Run: ``python bench/decode.py`` (add ``--out bench/results/decode.md`` to keep the table).

Clips:
- PETS2009 View_001 (``view001.mp4`` from the shared data; skipped with a message if
  absent): 768x576 H.264, 795 frames, timed at the scene's real ~7 fps (``source_fps=7``).
- A synthetic 1080p H.264 clip made here with PyAV (x264 veryfast, 25 fps, GOP 50,
  3 B-frames, moving gradient + moving blocks + sensor-like grain), cached in
  ``~/.cache/cctrace/bench``.

For each analysis rate (25, 7, 2, 1 fps) x NONREF skip (off/on): frames decoded and
analysed (yielded as BGR), per wall second, and camera-seconds per CPU-second (CPU
time of the whole process, decoder threads included, from ``resource.getrusage``).
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import resource
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import av
import numpy as np

from cctrace.footage import DecodeReport, iter_frames, probe

log = logging.getLogger("bench.decode")

REPO_ROOT = Path(__file__).resolve().parents[1]
RATES = (25.0, 7.0, 2.0, 1.0)
T0 = datetime(2026, 3, 15, 8, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Clip:
    name: str
    path: Path
    source_fps: float | None
    camera_seconds: float


@dataclass(frozen=True)
class Row:
    clip: str
    analysis_fps: float
    nonref: bool
    decoded: int
    analysed: int
    wall_s: float
    cpu_s: float
    camera_s: float


def shared_data_dir() -> Path:
    env = os.environ.get("CCTRACE_SHARED_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


def make_synthetic(path: Path, seconds: int, fps: int = 25) -> Path:
    """A 1080p H.264 clip: moving gradient, moving blocks, grain; GOP 50, 3 B-frames."""
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = 1080, 1920
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]
    channels = [xx * 255 // width, yy * 255 // height, (xx + yy) * 255 // (width + height)]
    base = np.stack(channels, axis=-1).astype(np.int16)
    grain = [rng.normal(0, 3, (height, width, 1)).astype(np.int16) for _ in range(8)]
    partial = path.with_suffix(".part.mp4")
    log.info("encoding synthetic clip %s (%d s at %d fps)", path, seconds, fps)
    with av.open(str(partial), "w") as out:
        stream = out.add_stream(
            "libx264",
            rate=fps,
            options={
                "preset": "veryfast",
                "crf": "26",
                "x264-params": "keyint=50:min-keyint=50:scenecut=0:bframes=3",
            },
        )
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(seconds * fps):
            image = np.roll(base, 6 * i, axis=1) + grain[i % len(grain)]
            for k in range(6):  # "people" walking across
                x = (150 * k + 9 * i) % (width - 120)
                y = 200 + 130 * k
                image[y : y + 260, x : x + 90] = (40 * k, 200 - 30 * k, 120)
            frame = av.VideoFrame.from_ndarray(np.clip(image, 0, 255).astype(np.uint8), "bgr24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    partial.replace(path)
    return path


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(clip: Clip, analysis_fps: float, nonref: bool, repeat: int) -> Row:
    """The run with the least CPU time out of ``repeat``."""
    return min((measure_once(clip, analysis_fps, nonref) for _ in range(repeat)),
               key=lambda row: row.cpu_s)  # fmt: skip


def measure_once(clip: Clip, analysis_fps: float, nonref: bool) -> Row:
    report = DecodeReport()
    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    analysed = 0
    for _ in iter_frames(
        clip.path,
        "bench",
        T0,
        analysis_fps,
        source_fps=clip.source_fps,
        errors=report,
        skip_nonref=nonref,
    ):
        analysed += 1
    wall, cpu = time.perf_counter() - wall0, cpu_seconds() - cpu0
    return Row(clip.name, analysis_fps, nonref, report.frames_decoded, analysed, wall, cpu,
               clip.camera_seconds)  # fmt: skip


def table(rows: list[Row]) -> str:
    lines = [
        "| clip | analysis fps | NONREF skip | frames decoded | frames analysed | wall s "
        "| CPU s | decoded frames/s | analysed frames/s | camera-s per CPU-s |",
        "|---|---:|:---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.clip} | {r.analysis_fps:g} | {'on' if r.nonref else 'off'} | {r.decoded} "
            f"| {r.analysed} | {r.wall_s:.2f} | {r.cpu_s:.2f} | {r.decoded / r.wall_s:.0f} "
            f"| {r.analysed / r.wall_s:.1f} | {r.camera_s / r.cpu_s:.1f} |"
        )
    return "\n".join(lines)


def clips(args: argparse.Namespace) -> list[Clip]:
    found: list[Clip] = []
    pets = shared_data_dir() / "pets2009-s2l1" / "view001.mp4"
    if pets.is_file():
        info = probe(pets)
        found.append(Clip("PETS view001 768x576 (7 fps)", pets, 7.0, (info.n_frames or 0) / 7.0))
    else:
        print(f"skipping PETS2009: {pets} not found (set CCTRACE_SHARED_DATA)", file=sys.stderr)
    synthetic = make_synthetic(args.cache_dir / f"synthetic_1080p25_{args.seconds}s.mp4",
                               args.seconds)  # fmt: skip
    info = probe(synthetic)
    found.append(Clip("synthetic 1080p25 H.264", synthetic, None, info.duration_s or 0.0))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20, help="synthetic clip length")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path.home() / ".cache" / "cctrace" / "bench",
        help="where the synthetic clip is kept",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per cell (least CPU kept)")
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rows: list[Row] = []
    for clip in clips(args):
        list(iter_frames(clip.path, "warm-up", T0, 1.0))  # page cache, lazy init
        for rate in RATES:
            for nonref in (False, True):
                rows.append(measure(clip, rate, nonref, args.repeat))
                log.info("%s", rows[-1])
    header = (
        f"Decode bench: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, PyAV {av.__version__}, "
        f"libavcodec {'.'.join(map(str, av.library_versions['libavcodec']))}; "
        f"best of {args.repeat} runs by CPU time\n"
    )
    text = header + "\n" + table(rows) + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
