"""Height as a cross-camera cue: how exact, and how much it tells people apart.

One command: ``python bench/body_height.py [--data ../shared/data]``.

1. **Geometry** (WILDTRACK, 7 real calibrated views): its boxes are the projections of
   one 1.8 m cylinder per person, so they carry no one's real height, only the camera
   geometry: each view's homography (fitted by cctrace to 20 surveyed points) turns
   them into heights, which the published full calibration says should all be the same.
   Reported per view for both estimates (:mod:`cctrace.tracing.body_cues`): with the
   optical centre known (the image's centre here) and from the homography alone.
2. **People** (PETS S2L1 View_001, hand-annotated boxes of 19 real people): each
   person's track cut into 4 s pieces; the median height of each piece; pairs of pieces
   at least 7 s apart, of the same person and of different people: the height
   difference of each, the share within 5 / 10 cm and the AUC (how often a same-person
   pair is closer in height than a different-person pair).
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from cctrace.demo import DEMO_GROUND_POINTS, DEMO_PRINCIPAL_POINT  # noqa: E402
from cctrace.evaluation.pets import load_gt_boxes  # noqa: E402
from cctrace.evaluation.wildtrack import VIEWS, load_boxes, view_calibration  # noqa: E402
from cctrace.geometry import GroundCalibration  # noqa: E402
from cctrace.tracing.body_cues import HeightGeometry, local_scale_height_m  # noqa: E402

PETS_FPS = 7.0
PIECE_S = 4.0
MIN_APART_S = 7.0


def geometry_table(root: Path) -> None:
    """Per view: the height of the 1.8 m annotation cylinder, both estimates."""
    boxes = load_boxes(root)
    print("| view | boxes | with optical centre: median (p10-p90) | homography alone |")
    print("|---|---|---|---|")
    for view in range(len(VIEWS)):
        h = view_calibration(root, view).matrix
        full = HeightGeometry.of(h, (960.0, 540.0))
        assert full is not None, f"view {view}: no pinhole camera fits its homography"
        a, b = [], []
        for box in boxes:
            x1, y1, x2, y2 = box.xyxy
            if box.view != view or x1 <= 1 or y1 <= 1 or x2 >= 1919 or y2 >= 1079:
                continue
            u, v = full.height_m(box.xyxy), local_scale_height_m(h, box.xyxy)
            if u is not None and v is not None:
                a.append(u)
                b.append(v)
        print(f"| {VIEWS[view]} | {len(a)} | {_spread(a)} | {_spread(b)} |")


def people_table(pets_dir: Path) -> None:
    """Same-person vs different-person height differences of 4 s pieces."""
    h = GroundCalibration.fit(
        [(u, v) for u, v, _, _ in DEMO_GROUND_POINTS],
        [(x, y) for _, _, x, y in DEMO_GROUND_POINTS],
    ).matrix
    print(
        "| estimate | pieces | people | same person: median dh, within 5 / 10 cm | "
        "different: median dh, within 5 / 10 cm | AUC |"
    )
    print("|---|---|---|---|---|---|")
    full = HeightGeometry.of(h, DEMO_PRINCIPAL_POINT)
    assert full is not None, "no pinhole camera fits View_001's homography"
    estimates: dict[str, Callable[[Sequence[float]], float | None]] = {
        "with optical centre": full.height_m,
        "homography alone": lambda box: local_scale_height_m(h, box),
    }
    for name, estimate in estimates.items():
        per: dict[tuple[int, int], list[float]] = defaultdict(list)
        for frame, items in load_gt_boxes(pets_dir).items():
            for gid, xyxy in items:
                if xyxy[0] <= 1 or xyxy[2] >= 767 or xyxy[3] >= 575 or xyxy[1] <= 1:
                    continue
                if (v := estimate(xyxy)) is not None:
                    per[(gid, int(frame / PETS_FPS // PIECE_S))].append(v)
        pieces = [(g, k, float(np.median(v))) for (g, k), v in per.items() if len(v) >= 5]
        same, diff = [], []
        for i, (g1, k1, h1) in enumerate(pieces):
            for g2, k2, h2 in pieces[i + 1 :]:
                if g1 == g2 and abs(k1 - k2) * PIECE_S >= MIN_APART_S:
                    same.append(abs(h1 - h2))
                elif g1 != g2:
                    diff.append(abs(h1 - h2))
        s, d = np.sort(same), np.asarray(diff)
        auc = float(np.mean(1.0 - np.searchsorted(s, d, side="right") / len(s)))
        auc = 1.0 - auc  # P(same pair closer than a different pair)
        print(
            f"| {name} | {len(pieces)} | {len({p[0] for p in pieces})} | "
            f"{np.median(s):.3f} m, {np.mean(s <= 0.05):.0%} / {np.mean(s <= 0.10):.0%} | "
            f"{np.median(d):.3f} m, {np.mean(d <= 0.05):.0%} / {np.mean(d <= 0.10):.0%} | "
            f"{auc:.3f} |"
        )


def _spread(values: list[float]) -> str:
    if not values:
        return "-"
    p10, p50, p90 = np.percentile(values, [10, 50, 90])
    return f"{p50:.3f} m ({p10:.3f}-{p90:.3f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    print("WILDTRACK: one 1.8 m cylinder per person, seen by 7 views\n")
    geometry_table(args.data / "wildtrack-annotations")
    print("\nPETS S2L1 View_001, hand-annotated boxes\n")
    people_table(args.data / "pets2009-s2l1")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
