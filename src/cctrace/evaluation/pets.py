"""PETS2009 View_001 (S2L1, and S3-MF1 held out): site file, ground truth, and one cached
ingest per sequence per run."""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from cctrace.boxes import box_iou
from cctrace.evaluation.metrics import EvalContext
from cctrace.store.repository import Store

PETS_FPS = 7.0
"""The scene was recorded at about 7 fps (the container says 10)."""
CAMERA_ID = "view001"


def write_pets_site(
    pets_dir: Path,
    workdir: Path,
    footage: Path | None = None,
    extra_cameras: str = "",
    ingest: str = "",
    models: str = "",
) -> Path:
    """A one-camera site over PETS View_001 with its real calibration (48 points).

    ``ingest`` is extra YAML (indented two spaces) appended under ``ingest:``; ``models``
    a top-level ``models:`` section (:meth:`EvalContext.models_yaml`), "" for the defaults.
    """
    rows = list(csv.DictReader((pets_dir / "ground_points.csv").open()))
    points = "\n".join(
        f"        - [{r['u_px']}, {r['v_px']}, {r['x_m']}, {r['y_m']}]" for r in rows
    )
    site = workdir / "site.yaml"
    site.write_text(
        "name: pets\n"
        "cameras:\n"
        f"  - id: {CAMERA_ID}\n"
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
        f"{models}"
    )
    return site


def load_gt_boxes(pets_dir: Path) -> dict[int, list[tuple[int, np.ndarray]]]:
    """0-based frame index -> [(gt id, xyxy)] from gt_mot.txt (1-based frames)."""
    boxes: dict[int, list[tuple[int, np.ndarray]]] = defaultdict(list)
    for line in (pets_dir / "gt_mot.txt").read_text().splitlines():
        f, i, x, y, w, h = (float(v) for v in line.split(",")[:6])
        boxes[int(f) - 1].append((int(i), np.array([x, y, x + w, y + h])))
    return dict(boxes)


def load_gt_world(pets_dir: Path) -> dict[int, dict[int, tuple[float, float]]]:
    """0-based frame index -> {gt id: (x_m, y_m)} from gt_world_m.csv (1-based frames)."""
    by_frame: dict[int, dict[int, tuple[float, float]]] = defaultdict(dict)
    with (pets_dir / "gt_world_m.csv").open() as fh:
        for r in csv.DictReader(fh):
            by_frame[int(r["frame"]) - 1][int(r["id"])] = (float(r["x_m"]), float(r["y_m"]))
    return dict(by_frame)


def map_tracklets_to_gt(
    store: Store,
    gt: Path | Mapping[int, list[tuple[int, np.ndarray]]],
    camera_id: str = CAMERA_ID,
    min_share: float = 0.5,
) -> dict[int, int]:
    """Tracklet id -> the ground-truth person it follows.

    In each frame, boxes and ground-truth boxes are matched one to one (most overlap
    first, as the CLEAR MOT metrics do), and a box follows the person it is matched to
    with IoU >= 0.5: two boxes in one frame never follow the same person (two people side
    by side, one box each, overlap their neighbour too). A tracklet is given the person
    most of its boxes follow, provided at least ``min_share`` of all its boxes do (a
    tracklet mostly on nobody, e.g. a ghost or an unannotated person, gets no identity).
    ``gt`` is the PETS folder or boxes as :func:`load_gt_boxes` returns.
    """
    boxes = load_gt_boxes(gt) if isinstance(gt, Path) else gt
    votes: dict[int, Counter[int]] = defaultdict(Counter)
    totals: Counter[int] = Counter()
    by_frame: dict[int, list[tuple[int, np.ndarray]]] = defaultdict(list)
    for row in store.tracklets.mot_rows(camera_id):
        totals[row.track_id] += 1
        box = np.array([row.x, row.y, row.x + row.w, row.y + row.h])
        by_frame[row.frame_index].append((row.track_id, box))
    for frame, tracked in by_frame.items():
        for tid, gid in match_boxes(tracked, boxes.get(frame, [])):
            votes[tid][gid] += 1
    out = {}
    for tid, counts in votes.items():
        gid, n = counts.most_common(1)[0]
        if n >= min_share * totals[tid]:
            out[tid] = gid
    return out


def match_boxes(
    tracked: list[tuple[int, np.ndarray]], truth: list[tuple[int, np.ndarray]]
) -> list[tuple[int, int]]:
    """(track id, gt id) pairs of one frame: a one-to-one assignment maximising the total
    IoU over pairs with IoU >= 0.5."""
    from scipy.optimize import linear_sum_assignment

    if not tracked or not truth:
        return []
    iou = np.array([[box_iou(b, g) for _, g in truth] for _, b in tracked])
    cost = np.where(iou >= 0.5, -iou, 1.0)
    rows, cols = linear_sum_assignment(cost)
    return [
        (tracked[r][0], truth[c][0]) for r, c in zip(rows, cols, strict=True) if iou[r, c] >= 0.5
    ]


def crop_gt_boxes(
    boxes: Mapping[int, list[tuple[int, np.ndarray]]], x0: float, x1: float
) -> dict[int, list[tuple[int, np.ndarray]]]:
    """Ground-truth boxes as seen by a camera cut from columns ``x0..x1`` of the frame.

    A box is kept when at least half its width is inside the cut; it is clipped to it.
    """
    out: dict[int, list[tuple[int, np.ndarray]]] = {}
    for frame, items in boxes.items():
        kept = []
        for gid, b in items:
            inside = min(b[2], x1) - max(b[0], x0)
            if inside >= 0.5 * (b[2] - b[0]):
                clipped = np.array([max(b[0], x0) - x0, b[1], min(b[2], x1) - x0, b[3]])
                kept.append((gid, clipped))
        if kept:
            out[frame] = kept
    return out


def gt_pair_seconds(
    pets_dir: Path, band_m: float, fps: float = PETS_FPS
) -> dict[tuple[int, int], float]:
    """Ground-truth seconds each pair of people spent within ``band_m`` (world coordinates)."""
    out: dict[tuple[int, int], float] = defaultdict(float)
    for people in load_gt_world(pets_dir).values():
        ids = sorted(people)
        for ai, a in enumerate(ids):
            for b in ids[ai + 1 :]:
                d = np.hypot(people[a][0] - people[b][0], people[a][1] - people[b][1])
                if d <= band_m:
                    out[(a, b)] += 1 / fps
    return dict(out)


S2L1 = "pets2009-s2l1"
"""The sequence the tracker settings were tuned on."""
S3MF1 = "pets2009-s3mf1"
"""Same camera and ground frame, people running and crossing; never tuned on."""


def pets_ingest(ctx: EvalContext, ingest_yaml: str = "", dataset: str = S2L1) -> Path:
    """Ingest ``dataset``'s View_001 once per evaluation run (per ``ingest_yaml``); returns
    the site file.

    The default pipeline settings are used unless ``ingest_yaml`` overrides them (or the
    run chose another person detector, ``ctx.person_detector``), so the numbers describe
    what a user gets.
    """
    from cctrace.config import load_site
    from cctrace.ingest.runner import ingest_site

    key = (
        f"pets-ingest:{ingest_yaml}" if dataset == S2L1 else f"pets-ingest:{dataset}:{ingest_yaml}"
    )
    if key in ctx.cache:
        return Path(ctx.cache[key])
    pets_dir = ctx.dataset(dataset)
    workdir = ctx.workdir / f"pets-{len([k for k in ctx.cache if k.startswith('pets-ingest')])}"
    workdir.mkdir(parents=True, exist_ok=True)
    site_path = write_pets_site(pets_dir, workdir, ingest=ingest_yaml, models=ctx.models_yaml())
    summary = ingest_site(load_site(site_path), workers=1, progress=False, allow_expired=True)
    bad = [f for f in summary.files if f.status != "done"]
    if bad:
        raise RuntimeError(f"PETS ingest failed: {bad}")
    ctx.cache[key] = str(site_path)
    return site_path
