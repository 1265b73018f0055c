"""Mask classifier accuracy on real masked / unmasked faces (one command).

    python bench/masks.py [--data DIR] [--threads N]

Data: shared/data/masks/kaggle-andrewmvd (Pascal VOC boxes, ``with_mask`` /
``without_mask``). For every classifier (Keras MobileNetV2, torch MobileNetV2, their
average) it prints accuracy at p >= 0.5, per-class recall and ms per face, for crops
taken three ways:

- ``gt+0%`` / ``gt+15%``: the ground-truth box, expanded by 0 / 15 % per side;
- ``yunet-aligned``: YuNet faces matched to a ground-truth box (IoU >= 0.3), aligned
  112x112 by SFace's five-point alignment (what the pipeline stores as the face crop);
- ``yunet-box``: the same YuNet faces' boxes, expanded by 15 %.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cctrace.boxes import box_iou
from cctrace.types import Image

LABELS = {"with_mask": 1, "without_mask": 0}


@dataclass(frozen=True)
class Sample:
    image: Path
    box: tuple[float, float, float, float]
    worn: int


def default_data_dir() -> Path:
    env = os.environ.get("CCTRACE_SHARED_DATA")
    root = Path(env) if env else Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
    return root / "masks" / "kaggle-andrewmvd"


def load_samples(data: Path) -> list[Sample]:
    """Every labelled face box (``mask_weared_incorrect`` skipped)."""
    from defusedxml import ElementTree

    samples = []
    for xml in sorted((data / "annotations").glob("*.xml")):
        root = ElementTree.parse(xml).getroot()
        image = data / "images" / root.findtext("filename", "")
        for obj in root.iter("object"):
            name = (obj.findtext("name") or "").strip()
            if name not in LABELS:
                continue
            bb = obj.find("bndbox")
            if bb is None:
                continue
            box = tuple(float(bb.findtext(k, "0")) for k in ("xmin", "ymin", "xmax", "ymax"))
            samples.append(Sample(image, (box[0], box[1], box[2], box[3]), LABELS[name]))
    return samples


def crop_box(image: Image, box: tuple[float, float, float, float], margin: float) -> Image:
    """Crop ``box`` expanded by ``margin`` of its size on each side, clipped to the image."""
    x0, y0, x1, y1 = box
    mx, my = (x1 - x0) * margin, (y1 - y0) * margin
    h, w = image.shape[:2]
    a, b = max(0, round(x0 - mx)), max(0, round(y0 - my))
    c, d = min(w, round(x1 + mx)), min(h, round(y1 + my))
    return np.ascontiguousarray(image[b : max(d, b + 1), a : max(c, a + 1)])


def build_crops(samples: list[Sample]) -> dict[str, tuple[list[Image], np.ndarray]]:
    """Crops and labels for each crop kind."""
    import cv2

    from cctrace.vision.face import SFaceEmbedder, YuNetFaceDetector

    detector = YuNetFaceDetector(score_threshold=0.5)
    aligner = SFaceEmbedder()
    kinds: dict[str, tuple[list[Image], list[int]]] = {
        k: ([], []) for k in ("gt+0%", "gt+15%", "yunet-aligned", "yunet-box")
    }
    by_image: dict[Path, list[Sample]] = {}
    for s in samples:
        by_image.setdefault(s.image, []).append(s)
    for path, group in by_image.items():
        raw = cv2.imread(str(path))
        if raw is None:
            logging.warning("cannot read %s", path)
            continue
        image: Image = np.asarray(raw, np.uint8)
        faces = detector.detect(image)
        for s in group:
            for kind, margin in (("gt+0%", 0.0), ("gt+15%", 0.15)):
                kinds[kind][0].append(crop_box(image, s.box, margin))
                kinds[kind][1].append(s.worn)
            scored = [(box_iou(f.xyxy, s.box), f) for f in faces]
            best = max(scored, key=lambda t: t[0], default=(0.0, None))
            if best[1] is not None and best[0] >= 0.3:
                kinds["yunet-aligned"][0].append(aligner.align(image, best[1]))
                kinds["yunet-aligned"][1].append(s.worn)
                kinds["yunet-box"][0].append(crop_box(image, best[1].xyxy, 0.15))
                kinds["yunet-box"][1].append(s.worn)
    return {k: (crops, np.asarray(labels)) for k, (crops, labels) in kinds.items()}


def metrics(prob: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    pred = prob >= 0.5
    worn = labels == 1
    return {
        "accuracy": float((pred == worn).mean()),
        "recall_mask": float(pred[worn].mean()) if worn.any() else float("nan"),
        "recall_bare": float((~pred[~worn]).mean()) if (~worn).any() else float("nan"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data_dir())
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if not (args.data / "annotations").is_dir():
        sys.stderr.write(f"no data at {args.data} (set CCTRACE_SHARED_DATA)\n")
        return 2

    from cctrace.vision.mask import KerasMobileNetV2MaskClassifier, TorchMobileNetV2MaskClassifier

    samples = load_samples(args.data)
    crops = build_crops(samples)
    keras = KerasMobileNetV2MaskClassifier(threads=args.threads)
    torch = TorchMobileNetV2MaskClassifier(threads=args.threads)
    models = {"keras-mobilenetv2": keras, "torch-mobilenetv2": torch}
    n_mask = sum(s.worn for s in samples)
    lines = [
        f"kaggle-andrewmvd: {len(samples)} faces ({n_mask} with_mask, "
        f"{len(samples) - n_mask} without_mask); threshold 0.5",
        f"{'crops':<14} {'n':>4} {'model':<18} {'accuracy':>8} {'rec_mask':>8} "
        f"{'rec_bare':>8} {'ms/face':>7}",
    ]
    for kind, (images, labels) in crops.items():
        probs: dict[str, np.ndarray] = {}
        for name, model in models.items():
            model.classify(images[:1])  # load outside the timing
            start = time.perf_counter()
            probs[name] = model.classify(images)
            probs[name + "_ms"] = np.array(1000 * (time.perf_counter() - start) / len(images))
        # what the default EnsembleMaskClassifier ("mobilenetv2-avg") computes
        probs["average"] = (probs["keras-mobilenetv2"] + probs["torch-mobilenetv2"]) / 2
        probs["average_ms"] = probs["keras-mobilenetv2_ms"] + probs["torch-mobilenetv2_ms"]
        for name in ("keras-mobilenetv2", "torch-mobilenetv2", "average"):
            m = metrics(probs[name], labels)
            lines.append(
                f"{kind:<14} {len(labels):>4} {name:<18} {m['accuracy']:>8.3f} "
                f"{m['recall_mask']:>8.3f} {m['recall_bare']:>8.3f} "
                f"{float(probs[name + '_ms']):>7.1f}"
            )
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
