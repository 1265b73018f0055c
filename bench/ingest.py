"""Ingest speed on real footage: per-stage time, analysed frames/s, real-time factor, memory.

One command: ``python bench/ingest.py`` (PETS2009 View_001 from ../shared/data, or the
Debian opencv-doc copy when shared data is absent). Options: ``--fps`` analysis rate
(default 7), ``--frames`` limit, ``--out`` markdown file.

What it measures: one camera (768x576) ingested in-process with the site defaults,
the way ``cctrace ingest`` runs it, with each model stage wrapped in a timer. Decode
time is measured in a separate pass over the same frames. "Camera-seconds per
CPU-second" divides footage seconds by the process's user+system CPU time;
"x real time" divides footage seconds by wall time.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from cctrace.config import load_site  # noqa: E402
from cctrace.footage.demo import DEMO_GROUND_POINTS, fetch_demo_video  # noqa: E402
from cctrace.footage.reader import iter_frames, probe  # noqa: E402
from cctrace.ingest.models import ModelSet  # noqa: E402
from cctrace.ingest.runner import ingest_site  # noqa: E402

TIMES: dict[str, float] = defaultdict(float)
CPU_TIMES: dict[str, float] = defaultdict(float)
"""Process CPU time (all threads: onnxruntime's pool included) per stage."""
CALLS: dict[str, int] = defaultdict(int)


class Timed:
    """Wraps a model so every call of ``method`` adds to the stage's time."""

    def __init__(self, inner: Any, stage: str) -> None:
        self._inner = inner
        self._stage = stage

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            t, c = time.perf_counter(), time.process_time()
            try:
                return attr(*args, **kwargs)
            finally:
                TIMES[f"{self._stage}.{name}"] += time.perf_counter() - t
                CPU_TIMES[f"{self._stage}.{name}"] += time.process_time() - c
                CALLS[f"{self._stage}.{name}"] += 1

        return call


class TimedModels(ModelSet):
    """The site's models, each wrapped in a timer."""

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        base = ModelSet(config)
        self.__dict__["person_detector"] = Timed(base.person_detector, "person")
        self.__dict__["face_detector"] = Timed(base.face_detector, "face_detect")
        self.__dict__["face_embedder"] = Timed(base.face_embedder, "face_embed")
        self.__dict__["mask_classifier"] = Timed(base.mask_classifier, "mask")


def find_clip() -> Path:
    shared = ROOT.parent / "shared" / "data" / "pets2009-s2l1" / "view001.mp4"
    return shared if shared.is_file() else fetch_demo_video()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fps", type=float, default=7.0, help="analysis rate")
    parser.add_argument("--out", type=Path, default=None, help="also write the table here")
    args = parser.parse_args()
    clip = find_clip()
    info = probe(clip)
    work = Path(tempfile.mkdtemp(prefix="cctrace-bench-"))
    points = "\n".join(f"        - [{u}, {v}, {x}, {y}]" for u, v, x, y in DEMO_GROUND_POINTS)
    (work / "site.yaml").write_text(
        "cameras:\n  - id: view001\n    location: {x_m: 0, y_m: 0}\n"
        f"    footage: [{clip}]\n    start_time: 2009-01-01T12:34:00Z\n    source_fps: 7\n"
        f"    calibration:\n      points:\n{points}\n"
        f"ingest:\n  analysis_fps: {args.fps}\n  workers: 1\nstorage:\n  data_dir: data\n"
    )
    site = load_site(work / "site.yaml")

    # Pass 1: decode only.
    t0, c0 = time.perf_counter(), _cpu()
    n_decoded = sum(
        1 for _ in iter_frames(clip, "v", datetime(2009, 1, 1, tzinfo=UTC), args.fps, 7.0)
    )
    decode_wall, decode_cpu = time.perf_counter() - t0, _cpu() - c0

    # Pass 2: the real ingest, with timed models (loaded first: loading is not ingest).
    models = TimedModels(site.models)
    warm = np.zeros((576, 768, 3), np.uint8)
    models.person_detector.detect(warm)
    models.face_detector.detect(warm)
    from cctrace.vision.face import face_from_row

    row = np.array([100, 100, 60, 60, 115, 120, 145, 120, 130, 135, 118, 148, 142, 148, 0.9])
    models.face_embedder.embed(warm, [face_from_row(row)])
    models.mask_classifier.classify([np.zeros((112, 112, 3), np.uint8)])
    TIMES.clear()
    CPU_TIMES.clear()
    CALLS.clear()
    t0, c0 = time.perf_counter(), _cpu()
    summary = ingest_site(site, workers=1, progress=False, models=models, allow_expired=True)
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    footage_s = (info.n_frames or 0) / 7.0 or n_decoded / args.fps
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = [
        ("decode (separate pass)", decode_wall, decode_cpu, n_decoded),
        *((stage, secs, CPU_TIMES[stage], CALLS[stage]) for stage, secs in sorted(TIMES.items())),
    ]
    lines = [
        f"clip: {clip.name} ({info.width}x{info.height}, {footage_s:.1f} s of footage at 7 fps), "
        f"analysis {args.fps:g} fps, {n_decoded} frames analysed; status "
        + ", ".join(f.status for f in summary.files),
        "",
        "| stage | total s | CPU s | calls | ms/call | CPU ms per analysed frame | "
        "analysed frames/s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for stage, secs, cpu_s, calls in rows:
        per = 1000 * secs / calls if calls else 0.0
        rate = n_decoded / secs if secs else 0.0
        lines.append(
            f"| {stage} | {secs:.2f} | {cpu_s:.2f} | {calls} | {per:.1f} | "
            f"{1000 * cpu_s / n_decoded:.1f} | {rate:.1f} |"
        )
    lines += [
        f"| **whole ingest** | {wall:.2f} | {cpu:.2f} | {n_decoded} | "
        f"{1000 * wall / n_decoded:.1f} | {1000 * cpu / n_decoded:.1f} | {n_decoded / wall:.1f} |",
        "",
        f"- real-time factor: **{footage_s / wall:.2f}x** real time (wall), "
        f"{footage_s / cpu:.2f} camera-seconds per CPU-second",
        f"- decode alone: {decode_cpu:.2f} CPU s ({footage_s / max(decode_cpu, 1e-9):.0f} "
        "camera-seconds per CPU-second)",
        f"- peak memory (max RSS): {peak_mb:.0f} MB",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


if __name__ == "__main__":
    main()
