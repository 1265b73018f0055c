"""Mask classifier accuracy on real masked / unmasked faces (one command).

    python bench/masks.py [--data DIR] [--threads N] [--kinds KIND ...]

Data: shared/data/masks/kaggle-andrewmvd (Pascal VOC boxes, ``with_mask`` /
``without_mask``), loaded and cropped by :mod:`cctrace.evaluation.masks` (the same code
as ``cctrace eval``). For every classifier (Keras MobileNetV2, torch MobileNetV2, their
average ``mobilenetv2-avg``, and the default logistic head ``mobilenetv2-head``) it
prints accuracy at p >= 0.5, per-class recall and ms per face, on all faces and on the
held-out half ``B`` of the photos (half ``A`` was used to choose between variants), for
crops taken up to four ways:

- ``gt+0%`` / ``gt+15%``: the ground-truth box, expanded by 0 / 15 % per side;
- ``yunet-aligned``: YuNet faces matched to a ground-truth box (IoU >= 0.3), aligned
  112x112 by SFace's five-point alignment (what the pipeline classifies);
- ``yunet-box``: the same YuNet faces' boxes, expanded by 15 %.

The head was trained on aligned crops only; its figures on other kinds are shown for
completeness.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

from cctrace.evaluation.masks import (
    DATASET,
    build_crops,
    load_samples,
    rates,
    split_halves,
    timed_classify,
)
from cctrace.evaluation.metrics import default_shared_data

KINDS = ("gt+0%", "gt+15%", "yunet-aligned", "yunet-box")
MODELS = ("keras-mobilenetv2", "torch-mobilenetv2", "mobilenetv2-avg", "mobilenetv2-head")


def main(argv: list[str] | None = None) -> int:
    """Print the table; exit 2 when the data is missing."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_shared_data().joinpath(*DATASET))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if not (args.data / "annotations").is_dir():
        sys.stderr.write(f"no data at {args.data} (set CCTRACE_SHARED_DATA)\n")
        return 2

    from cctrace.vision import build_mask_classifier

    samples = load_samples(args.data)
    held_out = np.asarray(split_halves(samples)["B"], np.int64)
    crops = build_crops(samples, args.kinds)
    models = {name: build_mask_classifier(name, threads=args.threads) for name in MODELS}
    n_mask = sum(s.worn for s in samples)
    lines = [
        f"kaggle-andrewmvd: {len(samples)} faces ({n_mask} with_mask, "
        f"{len(samples) - n_mask} without_mask); threshold 0.5; "
        f"held-out half B: {len(held_out)} faces",
        f"{'crops':<14} {'n':>4} {'model':<18} {'accuracy':>8} {'rec_mask':>8} "
        f"{'rec_bare':>8} {'ms/face':>7} {'n B':>4} {'acc B':>6} {'mask B':>6} {'bare B':>6}",
    ]
    for kind, faces in crops.items():
        in_b = np.isin(faces.sample_index, held_out)
        for name, model in models.items():
            prob, ms = timed_classify(model, faces.crops)
            m = rates(prob, faces.labels)
            b = rates(prob[in_b], faces.labels[in_b])
            lines.append(
                f"{kind:<14} {len(faces.labels):>4} {name:<18} {m['accuracy']:>8.3f} "
                f"{m['recall masked']:>8.3f} {m['recall bare']:>8.3f} {ms:>7.1f} "
                f"{int(in_b.sum()):>4} {b['accuracy']:>6.3f} {b['recall masked']:>6.3f} "
                f"{b['recall bare']:>6.3f}"
            )
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
