"""Ingest embeds only the faces a tracklet keeps (its best few by quality); the others
only vote their mask status, so the stored faces are exactly those of embedding all."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cctrace.config import load_site
from cctrace.ingest.camera import CameraProcessor
from cctrace.ingest.face_assignment import FaceAssignment, FaceFate
from cctrace.ingest.models import ModelSet
from cctrace.tracking.tracklets import TrackletBuilder
from cctrace.types import Detections, Face, Faces, FaceSample, Frame, TrackPoint
from cctrace.vision.quality import face_quality
from cctrace.vision.registry import ModelError

T0 = datetime(2026, 3, 15, 8, 0, tzinfo=UTC)
FACE_PX = (40, 22, 64, 30, 52, 26, 70, 34, 48, 60, 24, 66)
"""Face widths over the frames: quality rises and falls, so some faces are not kept."""


class _RecordingEmbedder:
    """The real face embedder, counting the faces it was asked to embed."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.embedded = 0

    def embed(self, image: np.ndarray, faces: Sequence[Face]) -> np.ndarray:
        self.embedded += len(faces)
        return np.asarray(self.inner.embed(image, faces))

    def align(self, image: np.ndarray, face: Face) -> np.ndarray:
        return np.asarray(self.inner.align(image, face))


def _frame(i: int, rng: np.random.Generator) -> Frame:
    image = rng.integers(0, 255, (360, 640, 3), dtype=np.uint8)
    return Frame("cam1", i, T0 + timedelta(seconds=i / 7), i / 7, image)


def _face(width: int) -> Face:
    x, y = 300.0, 60.0
    eyes = ((x + 0.3 * width, y + 0.4 * width), (x + 0.7 * width, y + 0.4 * width))
    rest = ((x + 0.5 * width, y + 0.6 * width), (x + 0.35 * width, y + 0.8 * width))
    marks = (*eyes, *rest, (x + 0.65 * width, y + 0.8 * width))
    return Face((x, y, x + width, y + width), 0.9, marks)


def test_only_kept_faces_are_embedded_and_the_kept_faces_are_unchanged(tmp_path: Path) -> None:
    (tmp_path / "site.yaml").write_text(
        "name: t\ncameras:\n  - id: cam1\n    location: {x_m: 0, y_m: 0}\n"
        "    footage: [clip.mp4]\n    start_time: 2026-03-15T08:00:00Z\n"
    )
    site = load_site(tmp_path / "site.yaml", check_files=False)
    models = ModelSet()
    try:
        embedder = _RecordingEmbedder(models.face_embedder)
        mask = models.mask_classifier
    except ModelError as exc:
        pytest.skip(f"face models not prepared: {exc}")
    models.__dict__["face_embedder"] = embedder  # the cached property, recorded
    processor = CameraProcessor(site.cameras[0], site.ingest, 7.0)
    per_track = processor.builder.faces_per_tracklet
    reference = TrackletBuilder("cam1", faces_per_tracklet=per_track, min_points=1)
    rng = np.random.default_rng(3)
    person = Detections.create([[270, 40, 400, 350]], [0.9], tracker_id=[4])
    for i, width in enumerate(FACE_PX):
        frame = _frame(i, rng)
        face = _face(width)
        point = TrackPoint(i, frame.timestamp, (270, 40, 400, 350), (0.0, 0.0), 0.9)
        processor.builder.add_point(4, point)
        reference.add_point(4, point)
        rows = FaceAssignment({0: 0}, (FaceFate.ASSIGNED,))
        processor._add_faces(frame, person, Faces.from_faces([face]), rows, models)
        crop = embedder.align(frame.image, face)
        reference.add_face(
            4,
            FaceSample(
                i,
                frame.timestamp,
                np.asarray(embedder.inner.embed(frame.image, [face]), np.float32)[0],
                float(face_quality(frame.image, face)),
                float(mask.classify([crop])[0]),
                crop,
            ),
        )
    (got,), _ = processor.builder.finish_all()
    (want,), _ = reference.finish_all()
    assert len(FACE_PX) > embedder.embedded >= per_track  # some faces were never embedded
    assert [f.frame_index for f in got.faces] == [f.frame_index for f in want.faces]
    for a, b in zip(got.faces, want.faces, strict=True):
        np.testing.assert_allclose(a.embedding, b.embedding, atol=1e-6)
    assert got.mask_votes == want.mask_votes  # every face voted its mask status
    assert sum(got.mask_votes) == len(FACE_PX)
