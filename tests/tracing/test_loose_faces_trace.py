"""Faces no tracked person surely holds are kept and searchable, never attributed.

A real-face clip (``cctrace.evaluation.face_scene``: real photos pasted into the PETS
background, JPEG- and H.264-compressed) shows two people standing still. Person A's
face lies between two people's heads (two person boxes side by side, the way a crowd
looks to the detector): it is ambiguous, so it is given to nobody and kept as a loose
face. Person B stands alone and gets their face. Faces are found and embedded by the
real models on the decoded frames; only the person detector is replaced by those fixed
boxes, so which face is ambiguous does not depend on a detector's mood.

A trace from another photo of A finds A only as "face seen at camera X, time T, box B",
never as a sighting; an ingest killed after a checkpoint and resumed stores the same
loose faces as an uninterrupted one, none twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import cv2
import jsonschema
import numpy as np
import pytest

from cctrace.casework import run_trace
from cctrace.config import SiteConfig, load_site
from cctrace.evaluation.face_scene import (
    Appearance,
    cutout_from_photo,
    pets_background,
    textured_background,
    write_face_video,
)
from cctrace.footage.reader import probe
from cctrace.ingest import camera as camera_module
from cctrace.ingest.file_job import ingest_file
from cctrace.ingest.models import ModelSet
from cctrace.report import load_schema
from cctrace.store import FootageStatus, Store
from cctrace.tracing.service import TraceRequest
from cctrace.types import Detections, SightingStatus

START = datetime(2026, 3, 15, 8, 0, tzinfo=UTC)
A_IN_VIDEO, A_QUERY = "img16.jpg", "img61.jpg"
B_IN_VIDEO, B_QUERY = "img34.jpg", "img35.jpg"
DURATION_S = 3.0
FACE_W = 90.0
A_FACE = (200.0, 200.0)
B_FACE = (580.0, 200.0)
# Two people side by side whose head regions both hold A's face (ambiguous), and B alone.
CROWD_AROUND_A = [[120, 150, 240, 560], [160, 150, 280, 560]]
B_ALONE = [[520, 150, 640, 560]]


class FixedPeople:
    """A person detector that always sees the same three people (see the module doc)."""

    def detect(self, image: np.ndarray) -> Detections:
        boxes = np.asarray(CROWD_AROUND_A + B_ALONE, np.float32)
        return Detections.create(boxes, np.full(len(boxes), 0.9, np.float32))


@dataclass(frozen=True)
class Clip:
    site_path: Path
    video: Path
    faces_dir: Path


def _models(site: SiteConfig) -> ModelSet:
    models = ModelSet(site.models)
    try:
        _ = models.face_detector, models.face_embedder
    except Exception as exc:  # pragma: no cover - models missing on this machine
        pytest.skip(f"models unavailable: {exc}")
    models.__dict__["person_detector"] = FixedPeople()
    return models


@pytest.fixture(scope="module")
def clip(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Clip:
    faces_dir = shared_data / "faces" / "deepface"
    workdir = tmp_path_factory.mktemp("loose")
    pets = shared_data / "pets2009-s2l1" / "view001.mp4"
    background = pets_background(pets) if pets.is_file() else textured_background()
    still = (0.0, DURATION_S)
    people = [
        Appearance(cutout_from_photo(faces_dir / name), *still, xy, xy, FACE_W, FACE_W)
        for name, xy in ((A_IN_VIDEO, A_FACE), (B_IN_VIDEO, B_FACE))
    ]
    video = write_face_video(workdir / "lobby.mp4", background, people, DURATION_S, fps=10)
    cv2.imwrite(str(workdir / "background.png"), background)
    return Clip(_site(workdir / "site", video), video, faces_dir)


def _site(folder: Path, video: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "site.yaml"
    path.write_text(
        "name: loose-faces\n"
        "cameras:\n"
        "  - id: lobby\n"
        "    name: Lobby\n"
        "    location: {x_m: 0, y_m: 0}\n"
        f"    footage: [{video}]\n"
        f"    start_time: {START.isoformat().replace('+00:00', 'Z')}\n"
        "ingest:\n"
        "  analysis_fps: 5\n"
        "  checkpoint_seconds: 0.5\n"
        "storage:\n"
        "  data_dir: data\n"
    )
    return path


def _ingest(site: SiteConfig, video: Path, models: ModelSet) -> None:
    """Ingest the one file the way ``cctrace ingest`` does (resuming a checkpoint)."""
    camera = site.cameras[0]
    info = probe(video)
    assert info.fps and info.duration_s
    with Store.for_site(site) as store:
        store.cameras.upsert(camera.id, name=camera.name or camera.id, x_m=0.0, y_m=0.0)
        record = store.footage.get_or_create(
            camera.id, str(video), "cd" * 32, video.stat().st_size, START, info.duration_s, info.fps
        )
        ingest_file(store, site, camera, record, models)


def _stored(site: SiteConfig) -> list[tuple[int, tuple[float, ...]]]:
    with Store.for_site(site) as store:
        return sorted((f.frame_index, f.xyxy) for f in store.faces.loose_in_window(None, None))


@pytest.fixture(scope="module")
def ingested(clip: Clip) -> SiteConfig:
    site = load_site(clip.site_path)
    _ingest(site, clip.video, _models(site))
    return site


def test_the_ambiguous_face_is_kept_apart_and_b_gets_theirs(ingested: SiteConfig) -> None:
    with Store.for_site(ingested) as store:
        loose = store.faces.loose_in_window(None, None)
        tracklets = store.tracklets.in_window(None, None)
        faces = store.faces.embeddings_of(t.id for t in tracklets)
        points = store.tracklets.points_of(t.id for t in tracklets)
    b_ids = {tid for tid, pts in points.items() if all(p.xyxy[0] > 400 for p in pts)}
    b_start = min(points[t][0].frame_index for t in b_ids)
    at_a = [f for f in loose if _near(f.xyxy, A_FACE)]
    assert len(at_a) >= 5, "A's face, between two heads, should be kept on every face frame"
    for f in loose:
        assert f.fate == "ambiguous" and f.camera_id == "lobby"
        assert abs(float(np.linalg.norm(f.vector)) - 1.0) < 1e-3
        # B's face is loose only before B's track was confirmed (nobody held it yet).
        assert _near(f.xyxy, A_FACE) or (_near(f.xyxy, B_FACE) and f.frame_index < b_start), f
    # Never attributed: every stored tracklet face is on B's own tracklet.
    assert faces and {e.tracklet_id for e in faces} <= b_ids


def _near(box: tuple[float, ...], centre: tuple[float, float]) -> bool:
    return abs((box[0] + box[2]) / 2 - centre[0]) < FACE_W / 2


def test_trace_from_a_photo_finds_the_loose_face_and_never_a_sighting(
    clip: Clip, ingested: SiteConfig, tmp_path: Path
) -> None:
    models = _models(ingested)
    request = TraceRequest(case_id="LOOSE-A", actor="pytest", photos=(clip.faces_dir / A_QUERY,))
    result, paths = run_trace(ingested, request, out_dir=tmp_path / "a", models=models)
    review = result.query.review_threshold
    assert result.loose_faces, "another photo of A should match A's loose face"
    assert all(f.score >= review and f.camera_id == "lobby" for f in result.loose_faces)
    assert all(_near(f.xyxy, A_FACE) for f in result.loose_faces)
    assert [f.score for f in result.loose_faces] == sorted(
        (f.score for f in result.loose_faces), reverse=True
    )
    assert not result.route and not [
        s for s in result.sightings if s.status == SightingStatus.ACCEPTED
    ]
    # A stood between the two heads for the whole clip: one appearance, one row, that
    # stands for every matching face of it.
    (appearance,) = result.loose_faces
    assert appearance.faces_seen >= 5 and appearance.seen_until is not None
    assert appearance.seen_until >= appearance.timestamp
    # The report lists it apart, in a valid cctrace.trace/1 document.
    doc = json.loads(Path(paths.json).read_text())
    jsonschema.Draft202012Validator(load_schema()).validate(doc)
    assert len(doc["loose_faces"]) == len(result.loose_faces)
    first = doc["loose_faces"][0]
    assert first["camera_id"] == "lobby" and len(first["box"]) == 4
    assert first["faces_seen"] == appearance.faces_seen and first["seen_until"]
    assert doc["summary"]["sightings_accepted"] == 0
    html = Path(paths.html).read_text()
    assert "Faces seen without a tracked person: needs review" in html

    # B, who has their own face, is found as a sighting; A's loose face stays out (B's
    # face from before B's track started may be listed, apart, for review).
    request_b = TraceRequest(case_id="LOOSE-B", actor="pytest", photos=(clip.faces_dir / B_QUERY,))
    result_b, _ = run_trace(ingested, request_b, out_dir=tmp_path / "b", models=models)
    assert result_b.route, "B's own face should put B on the route"
    assert all(_near(f.xyxy, B_FACE) for f in result_b.loose_faces)


def test_kill_after_a_checkpoint_then_resume_stores_each_loose_face_once(
    clip: Clip, ingested: SiteConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = load_site(_site(tmp_path / "killed", clip.video))
    models = _models(site)
    real = camera_module.CameraProcessor.process
    calls = {"n": 0}

    def crash_at_frame_9(self: camera_module.CameraProcessor, frame, models):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 9:
            raise KeyboardInterrupt("killed")
        return real(self, frame, models)

    monkeypatch.setattr(camera_module.CameraProcessor, "process", crash_at_frame_9)
    with pytest.raises(KeyboardInterrupt):
        _ingest(site, clip.video, models)
    with Store.for_site(site) as store:
        (footage,) = store.footage.files()
        assert footage.status == FootageStatus.RUNNING and footage.progress_offset_s > 0
        assert store.faces.count_loose() > 0  # the checkpoints stored some already
    monkeypatch.setattr(camera_module.CameraProcessor, "process", real)
    _ingest(site, clip.video, models)  # resumes from the last checkpoint
    with Store.for_site(site) as store:
        assert store.footage.files()[0].status == FootageStatus.DONE
    resumed = _stored(site)
    assert len(set(resumed)) == len(resumed)
    assert resumed == _stored(ingested)
