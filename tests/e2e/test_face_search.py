"""End to end face search in video: real face photos in a test clip, ingested and traced.

The clip (``face_video``) pastes head-and-shoulders crops of two real people (deepface
photos of identities A and B) onto a real PETS2009 background, moving and growing
(face 60-140 px), each frame JPEG-compressed (q60) and the clip H.264-encoded. A is on
screen from 0.5 to 5.5 s, B from 8.5 to 13.5 s (the gap is longer than the tracker's
memory, so the two can never share a track). Traces are then run with *other* photos
of A and B, a photo of someone absent, and bad photos.

Scores seen when this was written (int8 YuNet + SFace): A's query vs A's tracklet
~0.82, vs B's < 0.363; absent people < 0.363 everywhere. bench/face_threshold.py
measures the thresholds themselves.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from cctrace.casework import run_trace
from cctrace.config import SiteConfig, load_site
from cctrace.errors import PhotoError
from cctrace.ingest.models import ModelSet
from cctrace.ingest.runner import ingest_site
from cctrace.store.records import TrackletRecord
from cctrace.store.repository import Store
from cctrace.tracing.query import embed_photo
from cctrace.tracing.result import TraceResult
from cctrace.tracing.service import TraceRequest
from cctrace.types import SightingStatus
from tests.e2e.face_video import (
    Appearance,
    cutout_from_photo,
    pets_background,
    textured_background,
    write_clip_site,
    write_face_video,
)

pytestmark = pytest.mark.slow

START = datetime(2026, 3, 15, 8, 0, tzinfo=UTC)
A_IN_VIDEO, A_QUERY = "img16.jpg", "img61.jpg"
B_IN_VIDEO, B_QUERY = "img34.jpg", "img35.jpg"
ABSENT = ("img29.jpg", "img47.jpg", "img22.jpg")
A_SPAN = (0.5, 5.5)
B_SPAN = (8.5, 13.5)
DURATION_S = 14.0
TRACES: list[str] = []
"""Case id of every trace this module ran, in order (the audit log must match it)."""


@dataclass(frozen=True)
class Scene:
    """The ingested clip: site, models, tracklets by person, where the photos are."""

    site: SiteConfig
    models: ModelSet
    faces_dir: Path
    a_tracklets: tuple[TrackletRecord, ...]
    """Tracklets with at least one face, inside A's time on screen."""
    b_tracklets: tuple[TrackletRecord, ...]
    all_ids: tuple[int, ...]


def _clusters(faces_dir: Path) -> dict[str, str]:
    clusters: dict[str, list[str]] = json.loads((faces_dir / "identity_clusters.json").read_text())
    return {name: identity for identity, names in clusters.items() for name in names}


def _within(rec: TrackletRecord, span: tuple[float, float]) -> bool:
    lo, hi = START + timedelta(seconds=span[0] - 0.5), START + timedelta(seconds=span[1] + 0.5)
    return lo <= rec.start and rec.end <= hi


@pytest.fixture(scope="module")
def scene(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Scene:
    faces_dir = shared_data / "faces" / "deepface"
    identity = _clusters(faces_dir)
    # The premise of every test here: query and video photos are the same / other people.
    assert identity[A_IN_VIDEO] == identity[A_QUERY] != identity[B_IN_VIDEO]
    assert identity[B_IN_VIDEO] == identity[B_QUERY]
    assert all(identity[p] not in (identity[A_QUERY], identity[B_QUERY]) for p in ABSENT)

    workdir = tmp_path_factory.mktemp("faces")
    pets = shared_data / "pets2009-s2l1" / "view001.mp4"
    background = pets_background(pets) if pets.is_file() else textured_background()
    cv2.imwrite(str(workdir / "background.png"), background)
    people = [
        Appearance(
            cutout_from_photo(faces_dir / A_IN_VIDEO), *A_SPAN, (150, 200), (560, 250), 60, 140
        ),
        Appearance(
            cutout_from_photo(faces_dir / B_IN_VIDEO), *B_SPAN, (600, 230), (200, 180), 140, 60
        ),
    ]
    video = write_face_video(workdir / "lobby.mp4", background, people, DURATION_S, fps=10)
    site_path = write_clip_site(workdir, "face-search", "lobby", video, START, "Lobby close-up")
    site = load_site(site_path)
    summary = ingest_site(site, workers=1, progress=False, allow_expired=True)
    assert [f.status for f in summary.files] == ["done"], summary.files
    with Store.for_site(site) as store:
        records = store.tracklets.in_window(START, START + timedelta(seconds=DURATION_S + 5))
        with_faces = {e.tracklet_id for e in store.faces.embeddings_of(r.id for r in records)}
    faced = [r for r in records if r.id in with_faces]
    a = tuple(r for r in faced if _within(r, A_SPAN))
    b = tuple(r for r in faced if _within(r, B_SPAN))
    assert a, f"no tracklet with a face while A is on screen: {records}"
    assert b, f"no tracklet with a face while B is on screen: {records}"
    assert len(a) + len(b) == len(faced), f"a face tracklet spans both people: {faced}"
    return Scene(site, ModelSet(site.models), faces_dir, a, b, tuple(r.id for r in records))


def _trace(scene: Scene, case_id: str, photo: Path, out: Path) -> TraceResult:
    request = TraceRequest(case_id=case_id, actor="pytest", photos=(photo,))
    TRACES.append(case_id)
    result, _ = run_trace(scene.site, request, out_dir=out, models=scene.models)
    return result


def _best_scores(scene: Scene, photo: Path) -> dict[int, float]:
    """Tracklet id -> best cosine between ``photo`` and the tracklet's stored faces."""
    query = embed_photo(photo, scene.models)[0]
    best: dict[int, float] = {}
    with Store.for_site(scene.site) as store:
        for emb in store.faces.embeddings_of(scene.all_ids):
            score = float(np.dot(emb.vector, query))
            best[emb.tracklet_id] = max(best.get(emb.tracklet_id, -1.0), score)
    return best


@pytest.mark.parametrize(
    ("query", "who"), [(A_QUERY, "a"), (B_QUERY, "b")], ids=["find-A", "find-B"]
)
def test_other_photo_of_person_finds_their_tracklet_only(
    scene: Scene, query: str, who: str, tmp_path: Path
) -> None:
    mine, theirs = (
        (scene.a_tracklets, scene.b_tracklets)
        if who == "a"
        else (scene.b_tracklets, scene.a_tracklets)
    )
    accept = scene.site.trace.accept_threshold
    result = _trace(scene, f"find-{who}", scene.faces_dir / query, tmp_path)
    status = {s.tracklet_id: s.status for s in result.sightings}
    score = {s.tracklet_id: s.score for s in result.sightings}
    main = max(mine, key=lambda r: r.n_points)
    assert status.get(main.id) == SightingStatus.ACCEPTED, (main, result.sightings)
    assert score[main.id] >= accept
    mine_ids = {r.id for r in mine}
    assert {s.tracklet_id for s in result.route} <= mine_ids, result.route
    for other in theirs:
        assert status.get(other.id) != SightingStatus.ACCEPTED, (other, result.sightings)
    # Not vacuous: the other person's faces were compared and scored below accept.
    best = _best_scores(scene, scene.faces_dir / query)
    assert max(best[r.id] for r in theirs) < accept, best
    assert result.query.accept_threshold == accept


@pytest.mark.parametrize("photo", ABSENT)
def test_absent_person_is_never_accepted(scene: Scene, photo: str, tmp_path: Path) -> None:
    accept = scene.site.trace.accept_threshold
    result = _trace(scene, f"absent-{photo}", scene.faces_dir / photo, tmp_path)
    assert result.route == (), result.sightings
    assert all(s.status != SightingStatus.ACCEPTED for s in result.sightings)
    best = _best_scores(scene, scene.faces_dir / photo)
    assert best, "the store holds no faces to compare with"
    assert max(best.values()) < accept, best


def test_photo_without_face(scene: Scene, tmp_path: Path) -> None:
    """Grass and path of the PETS scene: no face anywhere."""
    pets = scene.faces_dir.parents[1] / "pets2009-s2l1" / "view001.mp4"
    background = pets_background(pets) if pets.is_file() else textured_background()
    photo = tmp_path / "grass.jpg"
    cv2.imwrite(str(photo), background[320:576, 0:384])
    with pytest.raises(PhotoError, match="no face found"):
        _trace(scene, "no-face", photo, tmp_path / "r")


@pytest.mark.parametrize(
    ("relpath", "n_faces"),
    [
        ("deepface/couple.jpg", 2),
        ("face_recognition/knn_examples/test/obama_and_biden.jpg", 3),
    ],
)
def test_photo_with_several_faces(scene: Scene, relpath: str, n_faces: int, tmp_path: Path) -> None:
    photo = scene.faces_dir.parent / relpath
    if not photo.is_file():
        pytest.skip(f"{photo} not in the reference data")
    with pytest.raises(PhotoError, match=rf"{n_faces} faces found") as info:
        _trace(scene, "several", photo, tmp_path)
    assert "crop the photo" in str(info.value)


def test_unreadable_photo(scene: Scene, tmp_path: Path) -> None:
    photo = tmp_path / "suspect.jpg"
    photo.write_bytes(b"this is a text file, not a JPEG\n" * 20)
    with pytest.raises(PhotoError, match="not a readable image"):
        _trace(scene, "unreadable", photo, tmp_path / "r")


def test_every_trace_is_audited_and_the_chain_verifies(scene: Scene, tmp_path: Path) -> None:
    before = len(TRACES)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    runs = [
        ("audit-found", scene.faces_dir / A_QUERY),
        ("audit-absent", scene.faces_dir / ABSENT[0]),
    ]
    for case_id, photo in runs:
        _trace(scene, case_id, photo, tmp_path / case_id)
    with pytest.raises(PhotoError):
        _trace(scene, "audit-bad", bad, tmp_path / "bad")
    with Store.for_site(scene.site) as store:
        entries = store.audit.entries()
        # One entry per trace, failed ones included, in order: this test's and the others'.
        assert [e.case_id for e in entries] == TRACES
        new = entries[before:]
        assert [e.case_id for e in new] == ["audit-found", "audit-absent", "audit-bad"]
        assert all(e.action == "trace" and e.actor == "pytest" for e in new)
        assert new[0].query["photos"] == [A_QUERY]
        assert new[0].result["sightings_accepted"] >= 1
        assert new[1].result["sightings_accepted"] == 0
        assert "PhotoError" in new[2].result["error"]
        assert all(e.action == "trace" for e in entries)
        assert store.audit.verify_chain() is None


def test_one_person_on_screen_gives_one_track_and_no_contacts(scene: Scene, tmp_path: Path) -> None:
    with Store.for_site(scene.site) as store:
        records = store.tracklets.get_many(scene.all_ids)
    overlapping = [
        (a.id, b.id)
        for a, b in itertools.combinations(records, 2)
        if a.start < b.end and b.start < a.end
    ]
    result = _trace(scene, "alone", scene.faces_dir / A_QUERY, tmp_path)
    assert overlapping == [], records
    assert result.contacts == (), result.contacts
