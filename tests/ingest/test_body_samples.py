"""Body samples at ingest: clean boxes only, matched back to finished tracklets."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import numpy as np
import pytest

from cctrace.ingest.body_samples import BodySampler, clean_rows, side_cut_rows
from cctrace.types import Detections, TrackPoint
from cctrace.vision.body import PartColourEmbedder

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("boxes", "expected"),
    [
        ([[100, 100, 140, 200]], [0]),  # one clean person
        ([[100, 100, 140, 200], [120, 110, 160, 210]], []),  # two overlapping: neither
        ([[100, 100, 140, 200], [300, 100, 340, 200]], [0, 1]),  # side by side, apart
        ([[100, 100, 140, 130]], []),  # too short
        ([[0, 100, 40, 200]], []),  # cut by the left edge
        ([[600, 300, 640, 480]], []),  # cut by the bottom-right corner
    ],
)
def test_clean_rows(boxes: list[list[float]], expected: list[int]) -> None:
    assert clean_rows(np.asarray(boxes, np.float32), 640, 480) == expected


@pytest.mark.parametrize(
    ("boxes", "expected"),
    [
        ([[0, 100, 40, 200]], [0]),  # cut by the left edge: its bands are still right
        ([[610, 100, 640, 200]], [0]),  # cut by the right edge
        ([[100, 100, 140, 200]], []),  # whole: a clean sample, not a side-cut one
        ([[0, 100, 10, 200]], []),  # a sliver
        ([[600, 300, 640, 480]], []),  # cut at the bottom too: the legs band is gone
        ([[0, 100, 40, 200], [20, 100, 60, 200]], []),  # overlapped
    ],
)
def test_side_cut_rows(boxes: list[list[float]], expected: list[int]) -> None:
    assert side_cut_rows(np.asarray(boxes, np.float32), 640, 480) == expected


def test_side_cut_samples_only_for_a_tracklet_with_no_whole_view() -> None:
    """A person walking out at the right edge is sampled there; a tracklet seen whole
    keeps its whole-view embedding, one seen only cut gets the cut one."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    image[100:300, 560:640] = (20, 20, 200)  # a red-clothed person at the right edge
    image[100:300, 100:180] = (200, 60, 20)  # a blue-clothed person, whole
    sampler = BodySampler(every_n=1)
    embedder = PartColourEmbedder()
    boxes = np.asarray([[100, 100, 180, 300], [560, 100, 640, 300]], np.float32)
    detections = Detections.create(boxes, np.ones(2, np.float32))
    assert sampler.observe(0, T0, image, detections, embedder) == 2
    whole = sampler.embedding_for([TrackPoint(0, T0, (100, 100, 180, 300), (0.0, 0.0), 1.0)])
    cut = sampler.embedding_for([TrackPoint(0, T0, (560, 100, 640, 300), (0.0, 0.0), 1.0)])
    assert whole is not None and cut is not None
    assert float(whole @ cut) < 0.9
    sampler.forget_before(T0 + timedelta(seconds=1))
    assert not sampler.samples and not sampler.side_cut


def _pets_people(pets_dir: Path, frames: range) -> dict[int, dict[int, list[float]]]:
    out: dict[int, dict[int, list[float]]] = {}
    with (pets_dir / "gt_mot.txt").open() as handle:
        for row in csv.reader(handle):
            frame, pid = int(row[0]) - 1, int(row[1])
            if frame in frames:
                x, y, w, h = (float(v) for v in row[2:6])
                out.setdefault(frame, {})[pid] = [x, y, x + w, y + h]
    return out


def test_samples_of_real_people_come_back_to_their_own_tracklet(pets_dir: Path) -> None:
    frames = range(0, 70)
    people = _pets_people(pets_dir, frames)
    sampler = BodySampler(every_n=7)
    embedder = PartColourEmbedder()
    with av.open(str(pets_dir / "view001.mp4")) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index not in frames:
                break
            ids = sorted(people.get(index, {}))
            boxes = np.asarray([people[index][p] for p in ids], np.float32).reshape(-1, 4)
            detections = Detections.create(boxes, np.ones(len(ids), np.float32))
            sampler.observe(
                index,
                T0 + timedelta(seconds=index / 7),
                frame.to_ndarray(format="bgr24"),
                detections.with_tracker_id(np.asarray(ids, np.int64)),
                embedder,
            )
    sampled = sum(len(s) for s in sampler.samples.values())
    assert sampled > 0
    embeddings = {}
    for pid in sorted({p for f in people.values() for p in f}):
        points = [
            TrackPoint(f, T0 + timedelta(seconds=f / 7), tuple(people[f][pid]), (0.0, 0.0), 1.0)
            for f in sorted(people)
            if pid in people[f]
        ]
        emb = sampler.embedding_for(points)
        if emb is not None:
            embeddings[pid] = emb
            assert np.linalg.norm(emb) == pytest.approx(1.0, abs=1e-5)
    assert len(embeddings) >= 3
    # A tracklet whose boxes match no clean sample has no body embedding.
    stranger = [TrackPoint(3, T0, (1.0, 1.0, 5.0, 5.0), (0.0, 0.0), 1.0)]
    assert sampler.embedding_for(stranger) is None
    sampler.forget_before(T0 + timedelta(seconds=60))
    assert not sampler.samples


@pytest.mark.slow
def test_ingest_stores_body_appearance_that_tells_real_people_apart(
    pets_dir: Path, tmp_path: Path
) -> None:
    """A real ingest of 25 s of PETS: tracklets get body embeddings, and the same
    person's tracklets are more alike than different people's."""
    from cctrace.config import load_site
    from cctrace.evaluation.pets import load_gt_boxes, map_tracklets_to_gt, write_pets_site
    from cctrace.footage.writer import write_video
    from cctrace.ingest.runner import ingest_site
    from cctrace.store.repository import Store

    clip = tmp_path / "clip.mp4"
    with av.open(str(pets_dir / "view001.mp4")) as container:
        frames = (
            f.to_ndarray(format="bgr24")
            for _, f in zip(range(175), container.decode(video=0), strict=False)
        )
        write_video(clip, frames, 7)
    site = load_site(write_pets_site(pets_dir, tmp_path, footage=clip))
    ingest_site(site, workers=1, progress=False, allow_expired=True)
    with Store.for_site(site) as store:
        records = store.tracklets.in_window(None, None)
        bodies = store.tracklets.body_embeddings([r.id for r in records], model="part-colour")
        person = map_tracklets_to_gt(store, load_gt_boxes(pets_dir), "view001")
    assert len(bodies) >= 0.5 * len(records) > 0
    ids = [t for t in bodies if t in person]
    sims = [
        (person[a] == person[b], float(bodies[a] @ bodies[b]))
        for i, a in enumerate(ids)
        for b in ids[i + 1 :]
    ]
    different = [s for same, s in sims if not same]
    assert different and np.mean(different) < 0.9
