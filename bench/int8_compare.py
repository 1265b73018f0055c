"""Two YOLOv3-tiny ONNX files side by side on PETS2009 S2L1 (one command).

    python bench/int8_compare.py [--a PATH] [--b PATH] [--step 16] [--sizes 416 320]

Each file runs behind the int8 person detector's default settings (registry type
``yolov3-tiny-int8``, one onnxruntime thread) on every ``step``-th frame of S2L1
View_001. Printed per input size: recall and precision of each (greedy one-to-one
matching at IoU 0.5 against gt_mot.txt, as ``bench/person_detector.py``), the CPU
milliseconds this process spends per :meth:`detect` (the two interleaved frame by frame,
``--passes`` passes, median; other processes disturb it far less than wall time), and
how well B's boxes agree with A's: the share of boxes matched one to one at IoU 0.5 and
the mean IoU of those matches. Defaults: A is the derived ``yolov3-tiny-onnx-int8``, B
the float ``yolov3-tiny-onnx``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np

from cctrace.boxes import iou_matrix


def _detector(path: Path, size: int) -> Any:
    """The default int8 detector at ``size`` px, its session loaded from ``path``."""
    import cctrace.vision.person as person
    from cctrace.vision import build_person_detector

    det = build_person_detector("yolov3-tiny-int8", input_size=size, threads=1)
    with mock.patch.object(person, "resolve", lambda _name: path):
        det._load()
    return det


def _agreement(a: np.ndarray, b: np.ndarray) -> tuple[int, int, list[float]]:
    """(boxes matched one to one at IoU 0.5, max(len(a), len(b)), the matched IoUs)."""
    if not len(a) or not len(b):
        return 0, max(len(a), len(b)), []
    iou = iou_matrix(a, b)
    matched: list[float] = []
    while iou.size and iou.max() >= 0.5:
        i, j = np.unravel_index(int(iou.argmax()), iou.shape)
        matched.append(float(iou[i, j]))
        iou[i, :] = -1
        iou[:, j] = -1
    return len(matched), max(len(a), len(b)), matched


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from cctrace.vision.registry import resolve
    from person_detector import accuracy, default_data_dir, load_frames, load_gt

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--a", type=Path, default=None, help="model A (default: the int8)")
    parser.add_argument("--b", type=Path, default=None, help="model B (default: the float)")
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--step", type=int, default=16, help="use every step-th frame")
    parser.add_argument("--sizes", type=int, nargs="+", default=[416, 320])
    parser.add_argument("--passes", type=int, default=2, help="timing passes")
    args = parser.parse_args(argv)
    a_path = args.a or resolve("yolov3-tiny-onnx-int8")
    b_path = args.b or resolve("yolov3-tiny-onnx")
    data = args.data or default_data_dir()
    video, gt_path = data / "view001.mp4", data / "gt_mot.txt"
    if not video.is_file() or not gt_path.is_file():
        print(f"PETS S2L1 not found under {data}", file=sys.stderr)
        return 2
    frames, gt = load_frames(video, args.step), load_gt(gt_path)
    print(f"A {a_path}\nB {b_path}")
    print(f"{len(frames)} frames, load average {os.getloadavg()[0]:.2f}", flush=True)
    print(f"{'size':>4} {'model':>5} {'recall':>6} {'prec':>6} {'cpu ms':>7}  agreement with A")
    for size in args.sizes:
        dets = {"A": _detector(a_path, size), "B": _detector(b_path, size)}
        cpu: dict[str, list[float]] = {"A": [], "B": []}
        for _ in range(max(args.passes, 1)):
            for frame in frames.values():
                for name, det in dets.items():
                    t0 = time.process_time()
                    det.detect(frame)
                    cpu[name].append(time.process_time() - t0)
        matched = total = 0
        ious: list[float] = []
        for frame in frames.values():
            m, t, i = _agreement(dets["A"].detect(frame).xyxy, dets["B"].detect(frame).xyxy)
            matched, total, ious = matched + m, total + t, ious + i
        for name, det in dets.items():
            recall, precision = accuracy(det, frames, gt)
            agree = (
                f"{matched}/{total} boxes ({matched / max(total, 1):.3f}), "
                f"mean IoU {np.mean(ious) if ious else 0:.3f}"
                if name == "B"
                else ""
            )
            ms = 1000 * float(np.median(cpu[name]))
            print(f"{size:>4} {name:>5} {recall:6.3f} {precision:6.3f} {ms:7.1f}  {agree}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
