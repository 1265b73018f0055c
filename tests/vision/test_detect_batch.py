"""Batching frames across cameras: ``detect_batch`` gives the boxes ``detect`` gives
frame by frame, on real PETS frames with the site's default detector settings."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from cctrace.config import ModelsConfig
from cctrace.vision import build_person_detector


@pytest.mark.parametrize("type_", ["yolov3-tiny-int8", "yolov3-tiny-onnx"])
def test_a_batch_gives_the_boxes_of_one_frame_at_a_time(
    pets_frames: dict[int, np.ndarray], type_: str
) -> None:
    params = {**ModelsConfig().person_detector.params, "threads": 1}
    detector = build_person_detector(type_, **params)
    frames = [pets_frames[i] for i in sorted(pets_frames)[:3]]
    # A near-camera person (the frame enlarged): the conditional whole-frame passes run.
    h, w = frames[0].shape[:2]
    frames.append(cv2.resize(frames[0][h // 4 : h // 2, w // 4 : w // 2], (w, h)))
    one_by_one = [detector.detect(f) for f in frames]
    batched = detector.detect_batch(frames)
    assert sum(len(d.xyxy) for d in one_by_one) > 10  # real people found
    for single, batch in zip(one_by_one, batched, strict=True):
        assert len(single.xyxy) == len(batch.xyxy)
        np.testing.assert_allclose(batch.xyxy, single.xyxy, atol=0.05)
        np.testing.assert_allclose(batch.confidence, single.confidence, atol=1e-3)
    assert detector.detect_batch([]) == []
