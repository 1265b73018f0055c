"""PETS MOT figures for several ByteTrack first-round / activation thresholds with one
person detector, each detector output computed once and reused (the ingest after the
detector, its post-processing and the scoring are exactly ``cctrace eval --quick
--stage mot``'s: :func:`cctrace.evaluation.mot.evaluate_sequence`).

    python bench/first_round.py --detector yolov8n-agpl --sequence s2l1 0.8,0.4 0.7,0.4

prints one JSON line per (sequence, high, activation). Tune on ``s2l1`` only; ``s3mf1``
is the held-out clip. With 0.8,0.4 and the default detector it gives the stored baseline.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

import cctrace.ingest.camera as camera_module
import cctrace.tracking.tracker as tracker_module
from cctrace.evaluation import mot
from cctrace.evaluation.metrics import EvalContext, default_shared_data
from cctrace.evaluation.runner import person_detector_choice
from cctrace.types import Detections, Image
from cctrace.vision import PERSON_DETECTORS


def _detector_class(kind: str) -> Any:
    module_name, class_name = PERSON_DETECTORS[kind].split(":")
    module = __import__(module_name, fromlist=[class_name])
    return getattr(module, class_name)


def _memoise(cls: Any) -> None:
    """Make ``cls.detect`` remember its output per frame content (this process only)."""
    memo: dict[str, Detections] = {}
    original = cls.detect

    def detect(self: Any, image: Image) -> Detections:
        data = np.ascontiguousarray(image)
        key = hashlib.sha1(data.tobytes()).hexdigest() + str(data.shape)
        if key not in memo:
            memo[key] = original(self, image)
        return memo[key]

    cls.detect = detect


def main(argv: list[str] | None = None) -> int:
    """Run each threshold pair; one JSON line of metrics per sequence."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pairs", nargs="+", help="HIGH,ACTIVATION e.g. 0.7,0.4")
    ap.add_argument("--detector", default="yolov8n-agpl")
    ap.add_argument("--sequence", choices=("s2l1", "s3mf1"), default="s2l1")
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    cls = _detector_class(args.detector)
    _memoise(cls)
    tuned = args.sequence == "s2l1"
    seqs = [s for s in mot.SEQUENCES if s.tuned == tuned]
    for pair in args.pairs:
        high, activation = (float(x) for x in pair.split(","))
        # The tracker default, the face raise and the detector's declared score all
        # follow ``high``; tracks start from boxes at or above max(high, activation).
        tracker_module.HIGH_CONFIDENCE = high
        tracker_module.ACTIVATION = activation
        camera_module.HIGH_CONFIDENCE = high
        cls.tracker_high_confidence = high
        ctx = EvalContext(
            data_root=args.data or default_shared_data(),
            quick=True,
            threads=args.threads,
            person_detector=person_detector_choice(args.detector),
        )
        for seq in seqs:
            start = time.monotonic()
            metrics = {m.name: round(m.value, 4) for m in mot.evaluate_sequence(ctx, seq)}
            row = {"sequence": seq.title, "high": high, "activation": activation}
            row["seconds"] = round(time.monotonic() - start)
            print(json.dumps({**row, **metrics}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
