"""A person detector declares the ByteTrack first-round score that suits its score scale;
the camera processor's tracker and face raise use it, default detectors keep cctrace's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cctrace.config import ModelChoice, ModelsConfig, load_site
from cctrace.ingest.camera import CameraProcessor, _add_pseudo_persons
from cctrace.ingest.models import ModelSet
from cctrace.state import pack, unpack
from cctrace.tracking.tracker import HIGH_CONFIDENCE
from cctrace.types import Detections, Face
from cctrace.vision import DEFAULTS, PERSON_DETECTORS, person_detector_tracker_high_confidence
from cctrace.vision.yolov8n_agpl import YoloV8nAgplPersonDetector


def _processor(tmp_path: Path, high: float | None) -> CameraProcessor:
    (tmp_path / "site.yaml").write_text(
        "name: t\ncameras:\n  - id: cam1\n    location: {x_m: 0, y_m: 0}\n"
        "    footage: [clip.mp4]\n    start_time: 2026-03-15T08:00:00Z\n"
    )
    site = load_site(tmp_path / "site.yaml", check_files=False)
    return CameraProcessor(site.cameras[0], site.ingest, 10.0, tracker_high_confidence=high)


@pytest.mark.parametrize("kind", sorted(set(PERSON_DETECTORS) - {"yolov8n-agpl"}))
def test_other_detectors_keep_the_tracker_default(kind: str) -> None:
    assert person_detector_tracker_high_confidence(kind) is None


def test_yolov8n_declares_its_own_first_round_score() -> None:
    high = person_detector_tracker_high_confidence("yolov8n-agpl")
    assert high == YoloV8nAgplPersonDetector.tracker_high_confidence
    assert high is not None and 0.0 < high < HIGH_CONFIDENCE


def test_unknown_type_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown person detector type"):
        person_detector_tracker_high_confidence("nope")


def test_model_set_reads_the_type_without_loading_a_model() -> None:
    assert ModelSet().tracker_high_confidence is None  # the site default
    plain = ModelSet(
        ModelsConfig.model_validate({"person_detector": {"type": DEFAULTS["person_detector"]}})
    )
    assert plain.tracker_high_confidence is None
    # Built without validation: validating yolov8n-agpl checks that its (opt-in) export is
    # installed, and reading the declared score must not need it.
    v8 = ModelSet(ModelsConfig.model_construct(person_detector=ModelChoice(type="yolov8n-agpl")))
    assert v8.tracker_high_confidence == YoloV8nAgplPersonDetector.tracker_high_confidence
    assert "person_detector" not in vars(v8)  # the detector was not built


def test_processor_tracker_uses_the_declared_score(tmp_path: Path) -> None:
    assert _processor(tmp_path, None).tracker.high_confidence == HIGH_CONFIDENCE
    proc = _processor(tmp_path, 0.7)
    assert proc.tracker.high_confidence == pytest.approx(0.7)
    again = CameraProcessor.from_state(unpack(pack(proc.to_state())))
    assert again.tracker.high_confidence == pytest.approx(0.7)  # a resumed ingest keeps it


def test_face_raise_follows_the_first_round_score() -> None:
    persons = Detections.create([[100, 100, 160, 300]], [0.5])
    face = Face((115.0, 110.0, 145.0, 140.0), 0.9, ((0.0, 0.0),) * 5)
    assert _add_pseudo_persons(persons, [face], 768, 576).confidence[0] == np.float32(
        HIGH_CONFIDENCE
    )
    assert _add_pseudo_persons(persons, [face], 768, 576, 0.6).confidence[0] == np.float32(0.6)
    lonely = Face((300.0, 100.0, 340.0, 140.0), 0.78, ((0.0, 0.0),) * 5)
    empty = Detections.create(np.zeros((0, 4)), np.zeros(0))
    assert _add_pseudo_persons(empty, [lonely], 768, 576, 0.6).confidence[0] == np.float32(0.78)
