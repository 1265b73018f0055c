"""Body re-identification on real ground-truth crops: rank-1 and mAP per descriptor.

One command: ``python bench/body_reid.py [--sequence pets2009-s2l1] [--reid-onnx PATH]
[--reid-size H W] [--threads N] [--fuse-weights W ...]``.

Crops: every ``--step``-th frame of a PETS sequence, each ground-truth person box at
least ``--min-height`` px tall. Each crop is a query once; its gallery is every other
crop at least ``--min-gap-s`` seconds away from it (so the same walk a moment later does
not count), of every person. Rank-1: the most similar gallery crop is the same person.
mAP: mean average precision over the ranked gallery.

Rows: the default ``part-colour`` descriptor, each of its parts alone (what each part
contributes), a user-supplied ONNX re-ID network when given (for evaluation, e.g.
``../shared/models/osnet_x0_25_msmt17.onnx``; never shipped; any network with an RGB,
ImageNet mean/std input of ``--reid-size`` and a pooled N x D output, e.g. an ImageNet
backbone), and the two fused: for each ``--fuse-weights`` w, the concatenation
``[sqrt(w) * network, sqrt(1 - w) * part-colour]`` of the two L2-normalised vectors, itself
unit length, whose cosine is ``w * cosine(network) + (1 - w) * cosine(part-colour)``
(w = 0.5: the mean of the two cosines).
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from cctrace.vision.body import (  # noqa: E402
    OnnxReidEmbedder,
    PartColourEmbedder,
    box_crop,
)
from cctrace.vision.registry import sha256_file  # noqa: E402

FPS = 7.0


def load_crops(
    sequence_dir: Path, step: int, min_height: float
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """(crops, person ids, times in seconds) from the sequence's video and gt_mot.txt."""
    import av

    boxes: dict[int, list[tuple[int, tuple[float, float, float, float]]]] = defaultdict(list)
    with (sequence_dir / "gt_mot.txt").open() as handle:
        for row in csv.reader(handle):
            frame, pid = int(row[0]), int(row[1])
            x, y, w, h = (float(v) for v in row[2:6])
            if (frame - 1) % step == 0 and h >= min_height:
                boxes[frame - 1].append((pid, (x, y, x + w, y + h)))
    crops: list[np.ndarray] = []
    ids: list[int] = []
    times: list[float] = []
    with av.open(str(sequence_dir / "view001.mp4")) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index not in boxes:
                continue
            image = frame.to_ndarray(format="bgr24")
            for pid, box in boxes[index]:
                crop = box_crop(image, box)
                if crop is not None:
                    crops.append(np.ascontiguousarray(crop))
                    ids.append(pid)
                    times.append(index / FPS)
    return crops, np.asarray(ids), np.asarray(times)


def rank_scores(
    similarity: np.ndarray, ids: np.ndarray, times: np.ndarray, min_gap_s: float
) -> tuple[float, float, int]:
    """(rank-1, mAP, queries scored) over queries whose gallery holds their person."""
    hits, aps = [], []
    for q in range(len(ids)):
        gallery = np.abs(times - times[q]) >= min_gap_s
        same = (ids == ids[q]) & gallery
        if not same.any():
            continue
        order = np.argsort(-similarity[q, gallery], kind="stable")
        relevant = (ids[gallery] == ids[q])[order]
        hits.append(bool(relevant[0]))
        ranks = np.nonzero(relevant)[0] + 1
        aps.append(float(np.mean(np.arange(1, len(ranks) + 1) / ranks)))
    return float(np.mean(hits)), float(np.mean(aps)), len(hits)


def _ms_per_crop(start: float, cpu_start: float, crops: int) -> tuple[float, float]:
    """(wall, process CPU) milliseconds per crop since ``start`` / ``cpu_start``."""
    n = max(crops, 1)
    return (
        1000 * (time.perf_counter() - start) / n,
        1000 * (time.process_time() - cpu_start) / n,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--sequence", default="pets2009-s2l1")
    parser.add_argument("--step", type=int, default=10, help="use every n-th frame")
    parser.add_argument("--min-height", type=float, default=50.0)
    parser.add_argument("--min-gap-s", type=float, default=7.0)
    parser.add_argument("--reid-onnx", type=Path, help="an OSNet-style re-ID ONNX to compare")
    parser.add_argument(
        "--reid-size",
        type=int,
        nargs=2,
        default=(256, 128),
        metavar=("H", "W"),
        help="the ONNX network's input height and width (OSNet: 256 128)",
    )
    parser.add_argument(
        "--threads", type=int, default=2, help="onnxruntime intra-op threads for the network"
    )
    parser.add_argument(
        "--fuse-weights",
        type=float,
        nargs="+",
        default=[0.5],
        metavar="W",
        help="weights of the network's cosine in the fused rows (part-colour: 1 - W)",
    )
    parser.add_argument(
        "--similarity",
        action="store_true",
        help="also print how many same / different-person pairs reach each cosine",
    )
    args = parser.parse_args()
    if any(not 0.0 < w < 1.0 for w in args.fuse_weights):
        parser.error("--fuse-weights must be strictly between 0 and 1")
    crops, ids, times = load_crops(args.data / args.sequence, args.step, args.min_height)
    print(
        f"{args.sequence}: {len(crops)} crops of {len(set(ids.tolist()))} people "
        f"(every {args.step}th frame, >= {args.min_height:.0f} px, gallery >= "
        f"{args.min_gap_s:.0f} s from the query)"
    )
    rows: list[tuple[str, np.ndarray, float, float]] = []
    variants = {
        "part-colour (default)": None,
        "head only": {"head": 1.0, "torso": 0.0, "legs": 0.0},
        "torso only": {"head": 0.0, "torso": 1.0, "legs": 0.0},
        "legs only": {"head": 0.0, "torso": 0.0, "legs": 1.0},
        "torso + legs": {"head": 0.0, "torso": 1.0, "legs": 1.0},
    }
    for name, weights in variants.items():
        embedder = PartColourEmbedder(part_weights=weights)
        start, cpu = time.perf_counter(), time.process_time()
        emb = np.stack([embedder.embed(c, [(0, 0, c.shape[1], c.shape[0])])[0] for c in crops])
        rows.append((name, emb, *_ms_per_crop(start, cpu, len(crops))))
    if args.reid_onnx:
        height, width = args.reid_size
        reid = OnnxReidEmbedder(
            args.reid_onnx,
            sha256_file(args.reid_onnx),
            input_height=height,
            input_width=width,
            threads=args.threads,
        )
        reid.embed_crops(crops[:1])  # load the model and warm up outside the timing
        start, cpu = time.perf_counter(), time.process_time()
        emb = reid.embed_crops(crops)
        name = f"onnx-reid ({args.reid_onnx.name}, {height}x{width})"
        rows.append((name, emb, *_ms_per_crop(start, cpu, len(crops))))
    print("\n| descriptor | rank-1 | mAP | ms/crop (wall) | ms/crop (CPU) |\n|---|---|---|---|---|")
    sims = {}
    for name, emb, ms, cpu_ms in rows:
        sim = emb @ emb.T
        sims[name] = sim
        r1, m_ap, n = rank_scores(sim, ids, times, args.min_gap_s)
        print(f"| {name} | {r1:.3f} | {m_ap:.3f} | {ms:.2f} | {cpu_ms:.2f} |")
    if args.reid_onnx:
        reid_name, reid_emb = rows[-1][0], rows[-1][1]
        colour_emb = rows[0][1]
        for w in args.fuse_weights:
            fused_emb = np.hstack([np.sqrt(w) * reid_emb, np.sqrt(1.0 - w) * colour_emb])
            r1, m_ap, n = rank_scores(fused_emb @ fused_emb.T, ids, times, args.min_gap_s)
            print(
                f"| {w:.2f} x {reid_name} + {1.0 - w:.2f} x part-colour | {r1:.3f} | "
                f"{m_ap:.3f} | | |"
            )
    print(f"\n{n} queries scored")
    if args.similarity:
        apart = np.abs(times[:, None] - times[None, :]) >= args.min_gap_s
        same = (ids[:, None] == ids[None, :]) & apart
        other = (ids[:, None] != ids[None, :]) & apart
        print("\n| descriptor | cosine >= | same-person pairs | different-person pairs |")
        print("|---|---|---|---|")
        for name, sim in sims.items():
            for threshold in (0.5, 0.6, 0.7, 0.8):
                print(
                    f"| {name} | {threshold:.1f} | {np.mean(sim[same] >= threshold):.3f} | "
                    f"{np.mean(sim[other] >= threshold):.3f} |"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
