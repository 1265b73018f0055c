"""Live camera latency: from a person's last frame on an RTSP stream to searchable.

One command: ``python bench/live_latency.py`` (PETS2009 View_001 from ../shared/data).

A real RTSP camera is simulated by FFmpeg's RTSP muxer (PyAV) pushing the PETS clip in
real time, in a loop, to cctrace listening on a local port (``rtsp_listen: true``), the
way a camera configured to push works. ``run_live_camera`` ingests it in this process
exactly as ``cctrace ingest --live`` does. Every half second the bench reads the store;
a tracklet is searchable once its row is there (a trace reads tracklets, encounters and
faces from the store; the face index catches up from the store when a trace starts).

Latency of a tracklet = the wall clock when it is first seen in the store minus the
time of its last frame (its ``end``, on the stream's clock: this machine's UTC clock at
the first frame plus the stream's timestamps, so the same clock as the wall clock here).
It is mostly the segment length (``--segment``, ``ingest.live_segment_s``): tracklets are
committed with the segment they finish in.

Options: ``--seconds`` of streaming per segment length (default 150), ``--segments``
lengths to measure (default 10 60), ``--fps`` analysis rate (default 2), ``--out``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from cctrace.config import load_site  # noqa: E402
from cctrace.ingest.live import run_live_camera  # noqa: E402
from cctrace.ingest.models import ModelSet  # noqa: E402
from cctrace.store.repository import Store  # noqa: E402

SOURCE = ROOT / "tests" / "ingest" / "live_source.py"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _site(folder: Path, port: int, segment_s: float, fps: float) -> Path:
    site = folder / "site.yaml"
    site.write_text(
        "name: live latency bench\n"
        f"storage: {{data_dir: {folder / 'data'}}}\n"
        f"ingest: {{analysis_fps: {fps}, live_segment_s: {segment_s}, live_timeout_s: 5}}\n"
        "cameras:\n"
        "  - id: plaza\n"
        "    location: {x_m: 0, y_m: 0}\n"
        f"    footage: [rtsp://127.0.0.1:{port}/live]\n"
        "    rtsp_listen: true\n"
    )
    return site


def _pusher(clip: Path, url: str, stop: threading.Event) -> None:
    """Push the clip until ``stop``; retry while nobody listens yet (like a camera)."""
    while not stop.is_set():
        proc = subprocess.Popen(
            [sys.executable, str(SOURCE), str(clip), "rtsp", url],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        while proc.poll() is None and not stop.is_set():
            time.sleep(0.1)
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        time.sleep(0.3)


def measure(clip: Path, segment_s: float, seconds: float, fps: float) -> dict[str, float]:
    """Stream for ``seconds``; return latency statistics of the tracklets stored."""
    with tempfile.TemporaryDirectory(prefix="cctrace-live-bench-") as tmp:
        port = _free_port()
        site = load_site(_site(Path(tmp), port, segment_s, fps))
        models = ModelSet(site.models)
        _ = models.person_detector, models.face_detector
        stop = threading.Event()
        ingest = threading.Thread(
            target=lambda: run_live_camera(site, "plaza", models=models, stop=stop.is_set)
        )
        push_stop = threading.Event()
        pusher = threading.Thread(
            target=_pusher, args=(clip, f"rtsp://127.0.0.1:{port}/live", push_stop), daemon=True
        )
        first_seen: dict[int, datetime] = {}
        ends: dict[int, datetime] = {}
        store = Store.for_site(site)
        ingest.start()
        pusher.start()
        t0 = time.monotonic()
        try:
            while time.monotonic() - t0 < seconds:
                now = datetime.now(UTC)
                for t in store.tracklets.in_window(None, None, ["plaza"]):
                    if t.id not in first_seen:
                        first_seen[t.id] = now
                        ends[t.id] = t.end
                time.sleep(0.5)
        finally:
            push_stop.set()
            stop.set()
            ingest.join(timeout=60)
            store.close()
        lat = sorted((first_seen[i] - ends[i]).total_seconds() for i in first_seen)
    if not lat:
        return {"segment_s": segment_s, "tracklets": 0}
    return {
        "segment_s": segment_s,
        "tracklets": len(lat),
        "p50_s": statistics.median(lat),
        "p95_s": lat[min(len(lat) - 1, round(0.95 * (len(lat) - 1)))],
        "max_s": lat[-1],
        "min_s": lat[0],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--seconds", type=float, default=150.0)
    parser.add_argument("--segments", type=float, nargs="+", default=[10.0, 60.0])
    parser.add_argument("--fps", type=float, default=2.0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "live_latency.md")
    args = parser.parse_args(argv)
    clip = args.data / "pets2009-s2l1" / "view001.mp4"
    if not clip.is_file():
        print(f"no PETS clip at {clip}", file=sys.stderr)
        return 2
    rows = []
    for segment in args.segments:
        print(f"streaming {args.seconds:g} s with {segment:g} s segments ...", flush=True)
        rows.append(measure(clip, segment, args.seconds, args.fps))
        print(rows[-1], flush=True)
    import os

    lines = [
        "# Live RTSP camera: last frame of a person to searchable",
        "",
        f"`python bench/live_latency.py --seconds {args.seconds:g} --segments "
        f"{' '.join(f'{s:g}' for s in args.segments)} --fps {args.fps:g}`, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} CPUs. PETS S2L1 View_001 (768x576) pushed over RTSP in real "
        "time, analysed at the given rate.",
        "",
        "| segment | tracklets | latency p50 | p95 | max |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        if not r.get("tracklets"):
            lines.append(f"| {r['segment_s']:g} s | 0 | - | - | - |")
            continue
        lines.append(
            f"| {r['segment_s']:g} s | {r['tracklets']:g} | {r['p50_s']:.1f} s | "
            f"{r['p95_s']:.1f} s | {r['max_s']:.1f} s |"
        )
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
