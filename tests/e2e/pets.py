"""Helpers for end-to-end tests on PETS2009 S2L1: a site file and ground-truth matching."""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from cctrace.boxes import box_iou
from cctrace.store.repository import Store


def write_pets_site(
    pets_dir: Path,
    workdir: Path,
    footage: Path | None = None,
    extra_cameras: str = "",
    ingest: str = "",
) -> Path:
    """A one-camera site over PETS View_001 with its real calibration (48 points)."""
    rows = list(csv.DictReader((pets_dir / "ground_points.csv").open()))
    points = "\n".join(
        f"        - [{r['u_px']}, {r['v_px']}, {r['x_m']}, {r['y_m']}]" for r in rows
    )
    site = workdir / "site.yaml"
    site.write_text(
        "name: pets\n"
        "cameras:\n"
        "  - id: view001\n"
        "    location: {x_m: 0, y_m: 0}\n"
        f"    footage: [{footage or pets_dir / 'view001.mp4'}]\n"
        "    start_time: 2009-01-01T12:34:00Z\n"
        "    source_fps: 7\n"
        "    calibration:\n"
        "      points:\n"
        f"{points}\n"
        f"{extra_cameras}"
        "ingest:\n"
        "  analysis_fps: 7\n"
        f"{ingest}"
        "storage:\n"
        "  data_dir: data\n"
    )
    return site


def load_gt_boxes(pets_dir: Path) -> dict[int, list[tuple[int, np.ndarray]]]:
    """0-based frame index -> [(gt id, xyxy)] from gt_mot.txt (1-based frames)."""
    boxes: dict[int, list[tuple[int, np.ndarray]]] = defaultdict(list)
    for line in (pets_dir / "gt_mot.txt").read_text().splitlines():
        f, i, x, y, w, h = (float(v) for v in line.split(",")[:6])
        boxes[int(f) - 1].append((int(i), np.array([x, y, x + w, y + h])))
    return boxes


def map_tracklets_to_gt(store: Store, pets_dir: Path, camera_id: str) -> dict[int, int]:
    """Tracklet id -> the ground-truth id its boxes overlap most (IoU >= 0.5 majority)."""
    gt = load_gt_boxes(pets_dir)
    votes: dict[int, Counter[int]] = defaultdict(Counter)
    for row in store.mot_rows(camera_id):
        box = np.array([row.x, row.y, row.x + row.w, row.y + row.h])
        best = max(gt.get(row.frame_index, []), key=lambda g: box_iou(box, g[1]), default=None)
        if best is not None and box_iou(box, best[1]) >= 0.5:
            votes[row.track_id][best[0]] += 1
    return {tid: c.most_common(1)[0][0] for tid, c in votes.items() if c}


def gt_pair_seconds(
    pets_dir: Path, band_m: float, fps: float = 7.0
) -> dict[tuple[int, int], float]:
    """Ground-truth seconds each pair of people spent within ``band_m`` (world coordinates)."""
    by_frame: dict[int, dict[int, tuple[float, float]]] = defaultdict(dict)
    with (pets_dir / "gt_world_m.csv").open() as fh:
        for r in csv.DictReader(fh):
            by_frame[int(r["frame"])][int(r["id"])] = (float(r["x_m"]), float(r["y_m"]))
    out: dict[tuple[int, int], float] = defaultdict(float)
    for people in by_frame.values():
        ids = sorted(people)
        for ai, a in enumerate(ids):
            for b in ids[ai + 1 :]:
                d = np.hypot(people[a][0] - people[b][0], people[a][1] - people[b][1])
                if d <= band_m:
                    out[(a, b)] += 1 / fps
    return dict(out)
