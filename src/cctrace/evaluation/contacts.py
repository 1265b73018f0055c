"""Contacts on PETS2009 S2L1: measured time within 1 m / 2 m per pair vs ground truth.

Every stored tracklet is given the ground-truth identity its boxes overlap most, then
each pair's stored encounter seconds are summed per band and compared with the
seconds the two people's ground-truth foot points (``gt_world_m.csv``) were within
that distance. This isolates geometry, tracking and encounter building from identity
search (which the ``trace`` stage measures).

A *true contact* is a pair at least ``min_seconds`` within the band in ground truth;
a *found contact* is a pair measured at least ``min_seconds`` (what cctrace would
report as a close contact with ``--minutes`` at that threshold). Recall and precision
with targets are strict: a true contact must be found, a found contact must be true.
The "lenient" variants (report only) forgive pairs near the threshold: a true contact
counts as recalled when measured at least half the threshold, and a found contact as
correct when its true time is at least half the threshold.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cctrace.evaluation.metrics import EvalContext, Metric
from cctrace.evaluation.pets import CAMERA_ID, gt_pair_seconds, map_tracklets_to_gt, pets_ingest

Pair = tuple[int, int]

BANDS: tuple[tuple[float, float], ...] = ((2.0, 5.0), (1.0, 3.0))
"""(band in metres, duration threshold in seconds) pairs evaluated; the first has targets."""
TARGET_RECALL = 0.95
TARGET_PRECISION = 0.90
TARGET_MEDIAN_ERROR = 0.15


@dataclass(frozen=True)
class PairScores:
    """Pair-level comparison of measured and true contact seconds for one band."""

    true_pairs: tuple[Pair, ...]
    found_pairs: tuple[Pair, ...]
    recalled: tuple[Pair, ...]
    correct: tuple[Pair, ...]
    relative_errors: tuple[float, ...]
    """|measured - true| / true for every true pair (a missed pair is 1.0)."""

    @property
    def recall(self) -> float:
        return len(self.recalled) / len(self.true_pairs) if self.true_pairs else float("nan")

    @property
    def precision(self) -> float:
        return len(self.correct) / len(self.found_pairs) if self.found_pairs else float("nan")

    @property
    def median_error(self) -> float:
        return statistics.median(self.relative_errors) if self.relative_errors else float("nan")


def score_pairs(
    truth: Mapping[Pair, float],
    measured: Mapping[Pair, float],
    min_seconds: float,
    slack: float = 1.0,
) -> PairScores:
    """Compare per-pair seconds. With ``slack`` < 1 a pair counts as recalled (correct)
    when its measured (true) time reaches ``slack * min_seconds`` (module docstring)."""
    if not 0 < slack <= 1:
        raise ValueError(f"slack must be in (0, 1], got {slack}")
    half = min_seconds * slack
    true_pairs = sorted(p for p, s in truth.items() if s >= min_seconds)
    found_pairs = sorted(p for p, s in measured.items() if s >= min_seconds)
    recalled = [p for p in true_pairs if measured.get(p, 0.0) >= half]
    correct = [p for p in found_pairs if truth.get(p, 0.0) >= half]
    errors = [abs(measured.get(p, 0.0) - truth[p]) / truth[p] for p in true_pairs]
    return PairScores(
        tuple(true_pairs), tuple(found_pairs), tuple(recalled), tuple(correct), tuple(errors)
    )


def measured_pair_seconds(site_path: Path, pets_dir: Path, band_m: float) -> dict[Pair, float]:
    """Stored encounter seconds within ``band_m`` summed per ground-truth pair."""
    from cctrace.config import load_site
    from cctrace.store.repository import Store

    site = load_site(site_path, check_files=False)
    with Store.for_site(site) as store:
        to_gt = map_tracklets_to_gt(store, pets_dir, CAMERA_ID)
        totals: dict[Pair, float] = {}
        seen: set[int] = set()
        for enc in store.tracklets.encounters_for(sorted(to_gt)):
            if enc.id in seen:
                continue
            seen.add(enc.id)
            a, b = to_gt.get(enc.tracklet_id), to_gt.get(enc.other_tracklet_id)
            if a is None or b is None or a == b:
                continue
            key = (min(a, b), max(a, b))
            totals[key] = totals.get(key, 0.0) + enc.seconds_within.get(band_m, 0.0)
    return totals


def evaluate(ctx: EvalContext) -> list[Metric]:
    """Pair recall, precision and median duration error at 2 m (targets) and 1 m."""
    pets_dir = ctx.dataset("pets2009-s2l1")
    site_path = pets_ingest(ctx)
    metrics: list[Metric] = []
    for band, min_s in BANDS:
        truth = gt_pair_seconds(pets_dir, band)
        measured = measured_pair_seconds(site_path, pets_dir, band)
        strict = score_pairs(truth, measured, min_s)
        lenient = score_pairs(truth, measured, min_s, slack=0.5)
        primary = band == BANDS[0][0]
        cond = (
            f"PETS S2L1 View_001, pairs >= {min_s:g} s within {band:g} m "
            f"({len(strict.true_pairs)} true pairs); tracking tuned on this clip"
        )
        lenient_cond = cond + "; pairs count when the other side reaches half the threshold"

        def metric(
            name: str, value: float, target: float | None, n: int, c: str, primary: bool = primary
        ) -> Metric:
            return Metric("contacts", name, value, target if primary else None, n=n, condition=c)

        metrics += [
            metric(f"recall {band:g}m", strict.recall, TARGET_RECALL, len(strict.true_pairs), cond),
            metric(
                f"precision {band:g}m",
                strict.precision,
                TARGET_PRECISION,
                len(strict.found_pairs),
                cond,
            ),
            Metric(
                "contacts",
                f"median duration error {band:g}m",
                strict.median_error,
                TARGET_MEDIAN_ERROR if primary else None,
                higher_is_better=False,
                n=len(strict.true_pairs),
                condition=cond + "; |measured - true| / true, a missed pair counts 100%",
            ),
            metric(
                f"recall {band:g}m lenient",
                lenient.recall,
                None,
                len(lenient.true_pairs),
                lenient_cond,
            ),
            metric(
                f"precision {band:g}m lenient",
                lenient.precision,
                None,
                len(lenient.found_pairs),
                lenient_cond,
            ),
        ]
    return metrics
