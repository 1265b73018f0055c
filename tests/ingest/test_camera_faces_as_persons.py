"""Confident faces make trackable persons (ByteTrack only starts tracks from sure boxes)."""

from __future__ import annotations

import numpy as np

from cctrace.ingest.camera import PSEUDO_PERSON_MIN_FACE_SCORE, _add_pseudo_persons
from cctrace.tracking.tracker import HIGH_CONFIDENCE
from cctrace.types import Detections, Face


def _face(x: float, y: float, w: float, score: float) -> Face:
    return Face((x, y, x + w, y + w), score, ((0.0, 0.0),) * 5)


def test_weak_body_box_with_confident_face_is_raised() -> None:
    persons = Detections.create([[100, 100, 160, 300], [400, 100, 460, 300]], [0.5, 0.55])
    faces = [_face(115, 110, 30, 0.9)]  # inside the first box only
    out = _add_pseudo_persons(persons, faces, 768, 576)
    assert len(out) == 2
    assert out.confidence[0] >= HIGH_CONFIDENCE
    assert out.confidence[1] == np.float32(0.55)  # no face: left as detected


def test_doubtful_face_does_not_raise_or_add() -> None:
    persons = Detections.create([[100, 100, 160, 300]], [0.5])
    faces = [_face(115, 110, 30, PSEUDO_PERSON_MIN_FACE_SCORE - 0.1), _face(500, 50, 30, 0.5)]
    out = _add_pseudo_persons(persons, faces, 768, 576)
    assert len(out) == 1 and out.confidence[0] == np.float32(0.5)


def test_face_without_body_becomes_a_trackable_person() -> None:
    persons = Detections.create(np.zeros((0, 4)), np.zeros(0))
    out = _add_pseudo_persons(persons, [_face(300, 100, 40, 0.78)], 768, 576)
    assert len(out) == 1
    assert out.confidence[0] >= HIGH_CONFIDENCE
    x1, _, x2, y2 = out.xyxy[0]
    assert x1 < 300 and x2 > 340 and y2 > 100 + 4 * 40  # a body below the face
