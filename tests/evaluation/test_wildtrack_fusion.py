"""Cross-camera fusion on WILDTRACK's real geometry (first 40 annotated instants)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cctrace.evaluation.wildtrack import (
    FusionScore,
    identity_f1,
    score_contacts,
    score_fusion,
    view_calibration,
)


@pytest.fixture(scope="module")
def wildtrack(shared_data: Path) -> Path:
    path = shared_data / "wildtrack-annotations"
    if not (path / "annotations_positions").is_dir():
        pytest.skip(f"WILDTRACK annotations not found in {path}")
    return path


@pytest.fixture(scope="module")
def score(wildtrack: Path) -> FusionScore:
    return score_fusion(wildtrack, max_instants=40)


def test_each_view_calibration_maps_feet_to_the_annotated_ground(
    wildtrack: Path, score: FusionScore
) -> None:
    # A surveyed-point homography per view puts annotated feet within centimetres.
    assert score.foot_error_median_m < 0.2
    assert score.foot_error_p95_m < 0.5
    assert view_calibration(wildtrack, 0).to_ground([[960.0, 1000.0]]).shape == (1, 2)


def test_fusion_joins_views_of_one_person_and_one_step_links_are_precise(
    score: FusionScore,
) -> None:
    assert score.idf1_fused > score.idf1_unfused + 0.4
    assert score.identities_fused < score.tracklets
    threshold, links, precision = score.direct[-1]
    assert threshold == pytest.approx(0.7) and links > 100
    # The rule the trace trusts on its own (stitching.overlap_links) must stay >= 95%.
    assert precision >= 0.95


@pytest.mark.parametrize(
    ("truth", "predicted", "expected"),
    [
        ([1, 1, 2, 2], [7, 7, 8, 8], 1.0),
        ([1, 1, 2, 2], [7, 7, 7, 7], 0.5),
        ([1, 1, 1, 1], [5, 6, 7, 8], 0.25),
    ],
)
def test_identity_f1(truth: list[int], predicted: list[int], expected: float) -> None:
    assert identity_f1(np.array(truth), np.array(predicted)) == pytest.approx(expected)


def test_contacts_from_fused_tracks_match_the_annotated_positions(wildtrack: Path) -> None:
    # Issue 10 item 5: pairs within 2 m, computed from tracks fused across the seven
    # views, against the annotated ground positions (first 80 instants = 40 s).
    fused, per_camera = score_contacts(wildtrack, max_instants=80, min_s=5.0)
    assert fused.mode == "fused" and per_camera.mode == "per camera"
    assert fused.true_contacts > 20
    assert fused.recall >= 0.9 and fused.precision >= 0.9
    assert fused.duration_error_median < 0.1
