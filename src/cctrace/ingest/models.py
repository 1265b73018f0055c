"""The set of models one ingest worker uses, built lazily from the site config."""

from __future__ import annotations

from functools import cached_property

from cctrace.config import ModelsConfig
from cctrace.vision.base import (
    BodyEmbedder,
    FaceDetector,
    FaceEmbedder,
    MaskClassifier,
    PersonDetector,
)


class ModelSet:
    """Person and face detectors, face embedder and mask classifier; each loads on first use."""

    def __init__(self, config: ModelsConfig | None = None, threads: int | None = None) -> None:
        self.config = config or ModelsConfig()
        self.threads = threads
        """Threads the person detector may use (None: its default, all cores)."""

    @cached_property
    def person_detector(self) -> PersonDetector:
        from cctrace.vision import build_person_detector

        c = self.config.person_detector
        params = dict(c.params)
        if self.threads is not None:
            params.setdefault("threads", self.threads)
        return build_person_detector(c.type, **params)

    @cached_property
    def tracker_high_confidence(self) -> float | None:
        """The person detector's ByteTrack first-round score (None: the tracker's
        default); read from its type, without loading the model."""
        from cctrace.vision import person_detector_tracker_high_confidence

        return person_detector_tracker_high_confidence(self.config.person_detector.type)

    @cached_property
    def face_detector(self) -> FaceDetector:
        from cctrace.vision import build_face_detector

        c = self.config.face_detector
        return build_face_detector(c.type, **c.params)

    @cached_property
    def photo_face_detector(self) -> FaceDetector:
        """Face detector for query photos: large photos are scaled to 1024 px first,
        where YuNet boxes huge faces badly."""
        from cctrace.vision import build_face_detector

        c = self.config.face_detector
        params = {"max_side": 1024, **c.params}
        return build_face_detector(c.type, **params)

    @cached_property
    def face_embedder(self) -> FaceEmbedder:
        from cctrace.vision import build_face_embedder

        c = self.config.face_embedder
        return build_face_embedder(c.type, **c.params)

    @cached_property
    def mask_classifier(self) -> MaskClassifier:
        from cctrace.vision import build_mask_classifier

        c = self.config.mask_classifier
        return build_mask_classifier(c.type, **c.params)

    @cached_property
    def body_embedder(self) -> BodyEmbedder:
        from cctrace.vision import build_body_embedder

        c = self.config.body_embedder
        return build_body_embedder(c.type, **c.params)
