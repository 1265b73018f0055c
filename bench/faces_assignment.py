"""Face assignment figures on a real clip: faces assigned / ambiguous / in nobody's head,
faces dropped by the tracklet consistency check, and the ingest time per frame.

    PYTHONPATH=src python bench/faces_assignment.py CLIP [--fps 4] [--frames 200]
    PYTHONPATH=src python bench/faces_assignment.py --make-group-clip OUT.mp4

``--make-group-clip`` writes a 10 s clip panning slowly over insightface's t1.jpg (six
real people side by side, faces ~100 px) to measure on.

Prints one JSON line. Needs the shipped models; CPU only.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path

from cctrace.config import CameraConfig, IngestConfig, SitePosition
from cctrace.footage.reader import iter_frames
from cctrace.ingest.camera import CameraProcessor
from cctrace.ingest.models import ModelSet


def make_group_clip(out: Path) -> None:
    """A 10 s, 10 fps pan (1024x768 window moving 240 px) over the t1.jpg group photo."""
    from importlib import metadata

    import cv2

    from cctrace.footage.writer import write_video

    path = metadata.distribution("insightface").locate_file("insightface/data/images/t1.jpg")
    image = cv2.imread(str(path))
    if image is None:
        raise SystemExit(f"cannot read {path}")
    h = min(768, image.shape[0])
    frames = [image[0:h, x : x + 1024].copy() for x in range(0, 240, 2)][:100]
    write_video(out, frames, 10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("clip", type=Path, nargs="?")
    parser.add_argument("--make-group-clip", type=Path, help="write the t1.jpg pan clip here")
    parser.add_argument("--fps", type=float, default=4.0, help="analysis frames per second")
    parser.add_argument("--frames", type=int, default=200, help="analyse at most this many")
    args = parser.parse_args()
    if args.make_group_clip is not None:
        make_group_clip(args.make_group_clip)
        return
    if args.clip is None:
        parser.error("give a clip")
    models = ModelSet()
    camera = CameraConfig(id="bench", location=SitePosition(x_m=0.0, y_m=0.0), footage=[args.clip])
    proc = CameraProcessor(camera, IngestConfig(analysis_fps=args.fps))
    start = datetime(2024, 1, 1, tzinfo=UTC)
    tracklets = []
    n = 0
    t0 = time.perf_counter()
    for frame in iter_frames(args.clip, "bench", start, args.fps):
        tracklets.extend(proc.process(frame, models).tracklets)
        n += 1
        if n >= args.frames:
            break
    tracklets.extend(proc.finish().tracklets)
    elapsed = time.perf_counter() - t0
    result = {
        "clip": args.clip.name,
        "frames": n,
        "ms_per_frame": round(1000 * elapsed / max(n, 1), 1),
        # getattr: the script also measures code from before these counters existed.
        "faces": getattr(proc, "face_counts", None),
        "tracklets": len(tracklets),
        "tracklet_faces_kept": sum(len(t.faces) for t in tracklets),
        "tracklet_faces_dropped": sum(getattr(t, "faces_dropped", 0) for t in tracklets),
        "tracklets_with_dropped": sum(1 for t in tracklets if getattr(t, "faces_dropped", 0)),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
