"""End to end on real footage: PETS2009 S2L1 ingested, encounters against ground truth."""

from __future__ import annotations

from pathlib import Path

import pytest

from cctrace.config import load_site
from cctrace.ingest.runner import ingest_site
from cctrace.store.repository import Store
from tests.e2e.pets import gt_pair_seconds, map_tracklets_to_gt, write_pets_site

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pets_ingest(pets_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("pets")
    site_path = write_pets_site(pets_dir, workdir)
    summary = ingest_site(load_site(site_path), workers=1, progress=False, allow_expired=True)
    assert [f.status for f in summary.files] == ["done"], summary.files
    return site_path


def _pair_seconds(site_path: Path, pets_dir: Path, band: float) -> dict[tuple[int, int], float]:
    site = load_site(site_path)
    with Store.for_site(site) as store:
        to_gt = map_tracklets_to_gt(store, pets_dir, "view001")
        ids = sorted(to_gt)
        totals: dict[tuple[int, int], float] = {}
        seen: set[int] = set()
        for enc in store.tracklets.encounters_for(ids):
            if enc.id in seen:
                continue
            seen.add(enc.id)
            a, b = to_gt.get(enc.tracklet_id), to_gt.get(enc.other_tracklet_id)
            if a is None or b is None or a == b:
                continue
            key = (min(a, b), max(a, b))
            totals[key] = totals.get(key, 0.0) + enc.seconds_within[band]
    return totals


@pytest.mark.parametrize(
    ("pair", "frames"),
    [
        ((11, 12), 341),
        pytest.param(
            (9, 15),
            109,
            marks=pytest.mark.xfail(
                strict=True,
                reason="9 is hidden behind 15 for most of their contact; YOLOv3-tiny sees "
                "both in about a third of those frames (known weakness, issue 3): measured "
                "1.0 of 15.6 s within 1 m with ByteTrack (3.9 s with SORT before). Occlusion "
                "joining does not help here: the tracker swaps 9, 15, 19 and 16 between its "
                "tracks while they stand together, so no lost track re-appears cleanly",
            ),
        ),
    ],
)
def test_documented_close_pairs_found_within_20_percent(
    pets_ingest: Path, pets_dir: Path, pair: tuple[int, int], frames: int
) -> None:
    found = _pair_seconds(pets_ingest, pets_dir, 1.0)
    truth = frames / 7.0
    assert pair in found, f"pair {pair} not found; found {sorted(found)}"
    assert found[pair] == pytest.approx(truth, rel=0.20)


def test_person_hidden_behind_partner_is_followed(pets_ingest: Path, pets_dir: Path) -> None:
    """3 walks behind 4 for 2.3 s (frames 558-574), longer than plain linking bridges;
    occlusion joining carries 3 along with 4 meanwhile (3.9 of 6.0 s within 2 m without)."""
    found = _pair_seconds(pets_ingest, pets_dir, 2.0).get((3, 4), 0.0)
    assert found == pytest.approx(42 / 7.0, rel=0.15)


def test_hidden_pair_is_still_found(pets_ingest: Path, pets_dir: Path) -> None:
    assert _pair_seconds(pets_ingest, pets_dir, 2.0).get((9, 15), 0.0) > 0


def test_most_two_metre_pairs_found(pets_ingest: Path, pets_dir: Path) -> None:
    truth = {k: v for k, v in gt_pair_seconds(pets_dir, 2.0).items() if v >= 5.0}
    found = _pair_seconds(pets_ingest, pets_dir, 2.0)
    hits = [k for k in truth if found.get(k, 0.0) > 0]
    assert len(hits) / len(truth) >= 0.8, (sorted(truth), sorted(found))


def test_fragment_links_join_the_same_person(pets_ingest: Path, pets_dir: Path) -> None:
    """Motion-continuity links between track fragments are mostly right (same ground-truth id).

    With SORT and no joining at ingest this measured 44 right / 8 wrong (85%). Ingest now
    joins a lost track to the track that continues it (tracking/postprocess.py), so the
    trace-time stitcher finds little left to link (measured 0 / 0 with ByteTrack): what it
    still links must be right, and ingest must have left few fragments.
    """
    from cctrace.tracing.stitching import linked_fragments, make_fragment

    site = load_site(pets_ingest)
    with Store.for_site(site) as store:
        to_gt = map_tracklets_to_gt(store, pets_dir, "view001")
        records = store.tracklets.in_window(None, None)
        points = store.tracklets.points_of([r.id for r in records])
    fragments = [
        make_fragment(r.id, r.camera_id, [(p.timestamp, *p.ground_xy) for p in points[r.id]])
        for r in records
    ]
    right = wrong = 0
    for seed in to_gt:
        for linked in linked_fragments([seed], fragments):
            if linked == seed or linked not in to_gt:
                continue
            if to_gt[linked] == to_gt[seed]:
                right += 1
            else:
                wrong += 1
    assert wrong <= max(2, 0.2 * (right + wrong)), (right, wrong)
    assert len(records) <= 2 * 19, f"{len(records)} tracklets for 19 people"
