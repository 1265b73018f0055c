"""Person detector speed and accuracy on PETS2009 S2L1 View_001 (one command).

    python bench/person_detector.py [--data DIR] [--step 16] [--sizes 416 320]
        [--threads 1 2] [--types yolov3-tiny yolov3-tiny-onnx yolov3-tiny-int8] [--rounds 3]
    python bench/person_detector.py --calibrate src/cctrace/vision/yolo_int8_ranges.py
    python bench/person_detector.py --bands [--config NAME=TYPE:JSON ...] [--json OUT]

For every detector type and input size it prints recall and precision (greedy one-to-one
matching at IoU 0.5 against gt_mot.txt, 1-based frames, as tests/vision/test_person.py)
over every ``step``-th frame (step 16: 50 frames, 0..784), and the median milliseconds
per :meth:`detect` call (blob, forward, decoding, NMS) per thread count. Timing runs
the configurations in turn, ``rounds`` times over the frames; a round during which other
processes used 0.2 CPU or more (from /proc/stat) is left out of the median when a clean
one exists, so a shared machine gives usable numbers (the count of clean rounds is shown).

``--bands`` instead prints recall and precision per person box height band (<80, 80-150,
150-300, >=300 px; :mod:`cctrace.evaluation.detection`) for each ``--config`` (default:
the two tiles alone, i.e. the previous default; the current default with its 320 px
whole-frame pass; and the opt-in ``yolov8n-agpl`` where installed) on PETS S2L1 (every
``step``-th frame), on PETS S3-MF1 (every 2nd frame; never tuned on) and on two zoomed
clips made from S2L1 frames 5, 15, ..., 785 (crop and enlarge so that one person, in
turn, is about 300 / 450 px tall in a 768x576 frame; ground truth transformed the same
way; people less than 60 % inside the crop ignored), plus the median ms per
:meth:`detect` on the S2L1 frames and on every 2nd frame of the ~450 px zoom clip (near
people: the whole-frame passes run on every frame) (``rounds`` passes; clean-round rule
as below). ``--cpu-cost`` adds the CPU milliseconds this process spends per
:meth:`detect` (1 thread, the configurations interleaved frame by frame, two passes),
which other processes on a shared machine disturb far less than wall time.
``--misses`` adds, for each configuration, why each person >= 150 px on the zoom clips was
missed (:func:`miss_reasons`) and the recall that picking the right one of every pass's
boxes would give (the most any merging rule can reach with this network).

``--calibrate OUT`` instead writes the activation ranges of the int8 model (registry
``yolov3-tiny-onnx-int8``) as a Python module: min / max of every quantised activation
over PETS frames 8, 58, ..., 758 and every 6th photo of masks/kaggle-andrewmvd, each at
416 and 320 px.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from cctrace.boxes import count_greedy_matches, iou_matrix


def default_data_dir() -> Path:
    from cctrace.evaluation.metrics import default_shared_data

    return (default_shared_data() / "pets2009-s2l1").resolve()


def load_frames(video: Path, step: int) -> dict[int, np.ndarray]:
    """Every ``step``-th frame (0-based index -> BGR), decoded with PyAV."""
    import av

    frames: dict[int, np.ndarray] = {}
    with av.open(str(video)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index % step == 0:
                frames[index] = frame.to_ndarray(format="bgr24")
    return frames


def load_gt(path: Path) -> dict[int, np.ndarray]:
    """Ground-truth person boxes by 0-based frame index, (N, 4) xyxy."""
    boxes: dict[int, list[list[float]]] = {}
    for line in path.read_text().splitlines():
        f, _, x, y, w, h = (float(v) for v in line.split(",")[:6])
        boxes.setdefault(int(f) - 1, []).append([x, y, x + w, y + h])
    return {k: np.asarray(v, np.float32) for k, v in boxes.items()}


def accuracy(
    detector: Any, frames: dict[int, np.ndarray], gt: dict[int, np.ndarray]
) -> tuple[float, float]:
    tp = n_pred = n_gt = 0
    for index, frame in frames.items():
        boxes = detector.detect(frame).xyxy
        truth = gt.get(index, np.zeros((0, 4), np.float32))
        tp += count_greedy_matches(boxes, truth)
        n_pred += len(boxes)
        n_gt += len(truth)
    return tp / max(n_gt, 1), tp / max(n_pred, 1)


def _busy_seconds() -> tuple[float, float]:
    """(seconds all CPUs were busy, seconds this process ran) since boot / start."""
    with open("/proc/stat") as fh:
        fields = [int(v) for v in fh.readline().split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    busy = (sum(fields[:8]) - fields[3] - fields[4]) / tick  # all but idle and iowait
    own = os.times()
    return busy, own.user + own.system


def calibrate(data: Path, out: Path) -> None:
    """Write the int8 activation ranges module (see the module docstring)."""
    import cv2

    from cctrace.vision.darknet_onnx import calibrate_ranges
    from cctrace.vision.registry import resolve

    frames = load_frames(data / "view001.mp4", 1)
    images = [frames[i] for i in range(8, len(frames), 50)]
    photos = sorted((data.parent / "masks" / "kaggle-andrewmvd" / "images").glob("*.*"))
    images += [np.asarray(cv2.imread(str(p))) for p in photos[::6]]
    blobs = (
        cv2.dnn.blobFromImage(image, 1 / 255.0, (size, size), swapRB=True)
        for image in images
        for size in (416, 320)
    )
    ranges = calibrate_ranges(resolve("yolov3-tiny-cfg"), resolve("yolov3-tiny-weights"), blobs)
    lines = [
        '"""Activation ranges of the int8 YOLOv3-tiny (registry ``yolov3-tiny-onnx-int8``).',
        "",
        "Generated by ``python bench/person_detector.py --calibrate <this file>`` (min / max",
        f"over {len(images)} images at 416 and 320 px: PETS S2L1 frames and mask photos).",
        "Changing them changes the derived model: bump its version in the registry.",
        '"""',
        "",
        "YOLOV3_TINY_INT8_RANGES: dict[str, tuple[float, float]] = {",
        *(f'    "{k}": ({lo!r}, {hi!r}),' for k, (lo, hi) in sorted(ranges.items())),
        "}",
        "",
    ]
    out.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {len(ranges)} ranges from {len(images)} images to {out}")


DEFAULT_BAND_CONFIGS = {
    "tiles-only (previous default)": (
        "yolov3-tiny-int8",
        {"tiles": [2, 1], "tile_full_frame": False, "nms_threshold": 0.6},
    ),
    "default (tiles + whole frame at 320 and 416, fused)": ("", {}),
}
ZOOM_TARGETS = (300, 450)


def _parse_config(text: str) -> tuple[str, tuple[str, dict[str, Any]]]:
    name, _, spec = text.partition("=")
    type_, _, params = spec.partition(":")
    return name, (type_, json.loads(params) if params else {})


def _time_detector(
    det: Any, frames: list[np.ndarray], args: argparse.Namespace
) -> tuple[float, list[float]]:
    """Median ms per :meth:`detect` over ``args.rounds`` passes (clean rounds only, when
    any), and the CPUs other processes used in each round."""
    laps, others_all = [], []
    for _ in range(max(args.rounds, 1)):
        busy0, own0, wall0 = *_busy_seconds(), time.perf_counter()
        round_laps = []
        for frame in frames:
            t0 = time.perf_counter()
            det.detect(frame)
            round_laps.append(time.perf_counter() - t0)
        busy1, own1, wall1 = *_busy_seconds(), time.perf_counter()
        others = max(0.0, (busy1 - busy0) - (own1 - own0)) / max(wall1 - wall0, 1e-9)
        others_all.append(others)
        laps.append((round_laps, others))
    clean = [r for r, o in laps if o < args.max_other] or [r for r, _ in laps]
    return 1000 * float(np.median([t for r in clean for t in r])), others_all


def _cpu_cost(
    configs: dict[str, tuple[str, dict[str, Any]]], timing_sets: dict[str, list[np.ndarray]]
) -> dict[str, dict[str, float]]:
    """Mean CPU ms of this process per :meth:`detect` (1 thread), configurations
    interleaved frame by frame over two passes so they share the same machine load:
    {timing set: {config: ms}}. Less sensitive to other processes than wall time."""
    from cctrace.vision import build_person_detector

    dets = {
        name: build_person_detector(type_, **{**params, "threads": 1})
        for name, (type_, params) in configs.items()
    }
    out: dict[str, dict[str, float]] = {}
    for set_name, frames in timing_sets.items():
        spent: dict[str, list[float]] = {name: [] for name in dets}
        for det in dets.values():
            det.detect(frames[0])
        for _ in range(2):
            for frame in frames:
                for name, det in dets.items():
                    t0 = time.process_time()
                    det.detect(frame)
                    spent[name].append(time.process_time() - t0)
        out[set_name] = {name: 1000 * float(np.mean(v)) for name, v in spent.items()}
    return out


MISS_REASONS = ("no box", "one box for two", "lost in merging")
"""Why a person was missed (:func:`miss_reasons`)."""


def pass_boxes(det: Any, image: np.ndarray) -> np.ndarray:
    """Every box of every pass of a tiled detector before any merging (xyxy, image
    pixels, scores >= its threshold): each tile, and the whole frame at each of its sizes
    (also where its trigger would skip it). Other detectors: their reported boxes."""
    from cctrace.vision.tiled import TiledPersonDetector, tile_windows

    if not isinstance(det, TiledPersonDetector):
        return np.asarray(det.detect(image).xyxy, np.float32).reshape(-1, 4)
    h, w = image.shape[:2]
    size = (det.input_size, det.input_size)
    if det.tiles == (1, 1):
        return np.asarray(det._infer([image], size)[0][0], np.float32).reshape(-1, 4)
    windows = tile_windows(h, w, det.tiles, det.tile_overlap)
    crops = [np.ascontiguousarray(image[y0:y1, x0:x1]) for x0, y0, x1, y1 in windows]
    out = [np.zeros((0, 4), np.float32)]
    for (x0, y0, _, _), (xyxy, _) in zip(windows, det._infer(crops, size), strict=True):
        out.append(xyxy + np.array([x0, y0, x0, y0], np.float32))
    sides = (det.full_frame_size, det.full_frame_fuse_size) if det.tile_full_frame else ()
    for side in (s for s in sides if s):
        out.append(det._infer([image], det.full_frame_input(h, w, side))[0][0])
    return np.concatenate(out).astype(np.float32)


def miss_reasons(
    reported: np.ndarray,
    candidates: np.ndarray,
    gt: np.ndarray,
    wanted: np.ndarray,
    threshold: float = 0.5,
) -> list[tuple[int, str, float]]:
    """(gt index, reason, best IoU of a reported box) for each ``wanted`` ground-truth box
    that greedy one-to-one matching at ``threshold`` (as the bands) leaves unmatched.

    Reasons (:data:`MISS_REASONS`): "one box for two" (a reported box overlaps the person
    at ``threshold`` but went to another person: two people, one box), "no box" (no
    ``candidates`` box, i.e. no pass at all, overlaps them at ``threshold``: the network
    does not see them), else "lost in merging" (a pass boxed them, no reported box does).
    """
    reported = np.asarray(reported, np.float64).reshape(-1, 4)
    gt = np.asarray(gt, np.float64).reshape(-1, 4)
    iou = iou_matrix(reported, gt)
    work = iou.copy()
    matched = np.zeros(len(gt), bool)
    while work.size and work.max() >= threshold:
        i, j = np.unravel_index(int(np.argmax(work)), work.shape)
        matched[j] = True
        work[i, :] = -1
        work[:, j] = -1
    cand = iou_matrix(np.asarray(candidates, np.float64).reshape(-1, 4), gt)
    out = []
    for j in np.nonzero(np.asarray(wanted, bool) & ~matched)[0]:
        best = float(iou[:, j].max()) if len(reported) else 0.0
        if best >= threshold:
            reason = "one box for two"
        elif not len(cand) or cand[:, j].max() < threshold:
            reason = "no box"
        else:
            reason = "lost in merging"
        out.append((int(j), reason, best))
    return out


def _misses(
    det: Any, sets: dict[str, tuple[dict[int, np.ndarray], dict[int, np.ndarray], Any]]
) -> dict[str, Any]:
    """The ``--misses`` report of one detector on the zoom clips (people >= 150 px)."""
    counts = dict.fromkeys(MISS_REASONS, 0)
    total = 0
    lines = []
    for set_name, (frames, gt, ignore) in sets.items():
        if not set_name.startswith("S2L1 zoom"):
            continue
        for index, frame in frames.items():
            truth = gt.get(index, np.zeros((0, 4), np.float32))
            skip = np.zeros(len(truth), bool) if ignore is None else ignore[index]
            wanted = ~skip & (truth[:, 3] - truth[:, 1] >= 150)
            total += int(wanted.sum())
            for j, reason, best in miss_reasons(
                det.detect(frame).xyxy, pass_boxes(det, frame), truth, wanted
            ):
                counts[reason] += 1
                box = ", ".join(f"{v:.0f}" for v in truth[j])
                lines.append(f"   {set_name:<17} frame {index:>3} [{box}] {reason} ({best:.2f})")
    missed = sum(counts.values())
    print(f"   missed >= 150 px on the zoom clips: {missed} of {total} (best IoU of a box):")
    print("\n".join(lines))
    summary = ", ".join(f"{n} {r}" for r, n in counts.items())
    ceiling = 1 - counts["no box"] / max(total, 1)
    print(f"   {summary}; some pass boxed {ceiling:.3f} of them")
    return {"total": total, **counts, "some_pass_boxed": ceiling}


def bands(args: argparse.Namespace) -> int:
    """The ``--bands`` report (module docstring)."""
    import tempfile

    from cctrace.config import ModelsConfig
    from cctrace.errors import ModelError
    from cctrace.evaluation.detection import (
        evaluate_bands,
        load_mot_boxes,
        make_zoom_clip,
        plan_zoom_crops,
        read_clip,
        read_frames,
    )
    from cctrace.vision import build_person_detector
    from cctrace.vision.yolov8n_agpl import installed_model

    configs = dict(DEFAULT_BAND_CONFIGS)
    default = ModelsConfig().person_detector
    configs["default (tiles + whole frame at 320 and 416, fused)"] = (
        default.type,
        dict(default.params),
    )
    try:
        installed_model()
        configs["yolov8n-agpl (opt-in, AGPL-3.0)"] = ("yolov8n-agpl", {})
    except ModelError:
        pass
    if args.config:
        configs = dict(_parse_config(c) for c in args.config)
    s2, s3 = args.data, args.data.parent / "pets2009-s3mf1"
    gt2, gt3 = load_mot_boxes(s2 / "gt_mot.txt"), load_mot_boxes(s3 / "gt_mot.txt")
    sets: dict[str, tuple[dict[int, np.ndarray], dict[int, np.ndarray], Any]] = {
        "S2L1": (read_frames(s2 / "view001.mp4", range(0, 795, args.step)), gt2, None),
        "S3-MF1 (held out)": (read_frames(s3 / "view001.mp4", range(0, 107, 2)), gt3, None),
    }
    sources = read_frames(s2 / "view001.mp4", range(5, 795, 10))
    with tempfile.TemporaryDirectory(prefix="cctrace-zoom-") as tmp:
        for target in ZOOM_TARGETS:
            crops = plan_zoom_crops(gt2, (768, 576), sorted(sources), target)
            clip = make_zoom_clip(sources, gt2, crops, Path(tmp) / f"zoom{target}.mp4")
            sets[f"S2L1 zoom ~{target}px"] = (read_clip(clip.path), clip.gt, clip.ignore)
    print(f"load average {os.getloadavg()[0]:.2f} (2 cores shared: timings are noisy)")
    report: dict[str, Any] = {}
    timing_sets = {
        "S2L1": list(sets["S2L1"][0].values()),
        "near": list(sets[f"S2L1 zoom ~{ZOOM_TARGETS[-1]}px"][0].values())[::2],
    }
    for name, (type_, params) in configs.items():
        det = build_person_detector(type_, **{"threads": max(args.threads), **params})
        det.detect(timing_sets["S2L1"][0])
        ms_by_set, others_all = {}, []
        for timing_name, timing_frames in timing_sets.items():
            ms_by_set[timing_name], others = _time_detector(det, timing_frames, args)
            others_all += others
        ms = ms_by_set["S2L1"]
        entry: dict[str, Any] = {
            "type": type_,
            "params": params,
            "ms_per_frame": ms,
            "ms_per_frame_near": ms_by_set["near"],
            "others_cpu": others_all,
        }
        print(f"\n## {name}: {type_} {json.dumps(params)}")
        print(
            f"   {ms:.1f} ms/frame on S2L1, {ms_by_set['near']:.1f} on the ~"
            f"{ZOOM_TARGETS[-1]} px zoom clip (near people: every whole-frame pass runs) "
            f"(768x576, {max(args.threads)} threads; other processes used "
            f"{', '.join(f'{o:.2f}' for o in others_all)} CPUs per round)"
        )
        print(f"   {'set':<22} {'band':>7} {'gt':>5} {'recall':>6} {'dets':>5} {'prec':>6}")
        for set_name, (frames, gt, ignore) in sets.items():
            counts = evaluate_bands(lambda im, d=det: d.detect(im).xyxy, frames, gt, ignore)
            rows = counts.rows()
            recall, precision = counts.total()
            above = counts.recall_above(150)
            entry[set_name] = {
                "frames": len(frames),
                "recall": recall,
                "precision": precision,
                "recall_150_plus": above,
                "bands": rows,
            }
            for row in rows:
                if row["gt"] or row["detections"]:
                    r, p = row["recall"], row["precision"]
                    print(
                        f"   {set_name:<22} {row['band']:>7} {row['gt']:>5} "
                        f"{'-' if r is None else f'{r:.3f}':>6} {row['detections']:>5} "
                        f"{'-' if p is None else f'{p:.3f}':>6}"
                    )
            tail = "" if above is None else f", recall >=150 px {above:.3f}"
            print(
                f"   {set_name:<22} {'all':>7} recall {recall:.3f} precision {precision:.3f}{tail}"
            )
        if args.misses:
            entry["misses"] = _misses(det, sets)
        report[name] = entry
    if args.cpu_cost:
        cost = _cpu_cost(configs, timing_sets)
        print("\nCPU ms per detect (this process, 1 thread, configs interleaved frame by frame):")
        for set_name, by_config in cost.items():
            for name, ms in by_config.items():
                print(f"   {set_name:<5} {ms:7.1f}  {name}")
        report["cpu_ms_per_frame"] = cost
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=float), encoding="utf-8")
        print(f"\nwritten {args.json}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data_dir())
    parser.add_argument("--step", type=int, default=16, help="use every step-th frame")
    parser.add_argument("--sizes", type=int, nargs="+", default=[416, 320])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--types",
        nargs="+",
        default=["yolov3-tiny", "yolov3-tiny-onnx", "yolov3-tiny-int8"],
        help="detector types",
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="timing passes over the frames (0: none)"
    )
    parser.add_argument(
        "--param", action="append", default=[], help="extra KEY=VALUE (a JSON value)"
    )
    parser.add_argument(
        "--max-other", type=float, default=0.2, help="CPUs others may use in a clean round"
    )
    parser.add_argument("--calibrate", type=Path, help="write int8 ranges here and exit")
    parser.add_argument(
        "--bands", action="store_true", help="recall/precision by person height band"
    )
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        help="with --bands: NAME=TYPE:JSON_PARAMS (repeatable), e.g. "
        'v8=onnx-yolo:{"path": "m.onnx", "sha256": "...", "input_size": 384}; '
        "type yolov8n-agpl is the opt-in detector with AGPL-3.0 weights",
    )
    parser.add_argument("--json", type=Path, help="with --bands: also write the figures here")
    parser.add_argument(
        "--cpu-cost",
        action="store_true",
        help="with --bands: also the CPU ms per frame of each config (1 thread, interleaved; "
        "usable on a loaded machine)",
    )
    parser.add_argument(
        "--misses",
        action="store_true",
        help="with --bands: why each person >= 150 px on the zoom clips was missed",
    )
    args = parser.parse_args(argv)
    if args.calibrate:
        calibrate(args.data, args.calibrate)
        return 0
    if args.bands:
        return bands(args)

    import cv2

    from cctrace.vision import build_person_detector

    video, gt_path = args.data / "view001.mp4", args.data / "gt_mot.txt"
    if not video.is_file() or not gt_path.is_file():
        print(f"PETS S2L1 not found under {args.data}", file=sys.stderr)
        return 2
    frames, gt = load_frames(video, args.step), load_gt(gt_path)
    extra = {k: json.loads(v) for k, v in (p.split("=", 1) for p in args.param)}
    print(f"{len(frames)} frames, load average {os.getloadavg()[0]:.2f}", flush=True)

    configs = []
    for type_ in args.types:
        for size in args.sizes:
            for threads in args.threads:
                det = build_person_detector(type_, input_size=size, threads=threads, **extra)
                det.detect(next(iter(frames.values())))  # load + warm up
                configs.append((type_, size, threads, det))
    # Per configuration and round: the per-frame times and the CPUs other processes used.
    runs: dict[tuple[str, int, int], list[tuple[list[float], float]]] = {c[:3]: [] for c in configs}
    for _ in range(args.rounds):
        for type_, size, threads, det in configs:
            cv2.setNumThreads(threads)  # the cv2 backend's pool is process-wide
            busy0, own0, wall0 = *_busy_seconds(), time.perf_counter()
            laps = []
            for frame in frames.values():
                t0 = time.perf_counter()
                det.detect(frame)
                laps.append(time.perf_counter() - t0)
            busy1, own1, wall1 = *_busy_seconds(), time.perf_counter()
            others = max(0.0, (busy1 - busy0) - (own1 - own0)) / max(wall1 - wall0, 1e-9)
            runs[(type_, size, threads)].append((laps, others))

    def cell(key: tuple[str, int, int]) -> str:
        """Median ms over the rounds where other processes used < 0.2 CPU (else all)."""
        clean = [laps for laps, others in runs[key] if others < args.max_other]
        pooled = [t for laps in (clean or [laps for laps, _ in runs[key]]) for t in laps]
        mark = "" if clean else "!"
        return f"{key[2]}: {1000 * float(np.median(pooled)):5.1f}{mark} ({len(clean)})"

    all_others = [o for r in runs.values() for _, o in r]
    if all_others:
        print(
            f"other processes used {np.mean(all_others):.2f} of {os.cpu_count()} CPUs on "
            f"average while timing; '(n)': clean rounds (others < {args.max_other} CPU), "
            "'!': none clean, all rounds used",
            flush=True,
        )
    print(f"{'type':<20} {'size':>4} {'recall':>6} {'prec':>6}  ms/frame by threads")
    for type_ in args.types:
        for size in args.sizes:
            det = next(c[3] for c in configs if c[:2] == (type_, size))
            cv2.setNumThreads(max(args.threads))
            recall, precision = accuracy(det, frames, gt)
            cells = "  ".join(
                cell((type_, size, t)) for t in args.threads if runs[(type_, size, t)]
            )
            print(f"{type_:<20} {size:>4} {recall:6.3f} {precision:6.3f}  {cells}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
