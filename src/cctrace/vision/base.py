"""One-method interfaces for every model stage; adapters implement them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from cctrace.types import Detections, Face, FloatArray, Image


class PersonDetector(Protocol):
    """Finds people in a BGR image."""

    def detect(self, image: Image) -> Detections:
        """Person boxes (class_id 0) with confidences, in image pixels."""
        ...


class FaceDetector(Protocol):
    """Finds faces in a BGR image."""

    def detect(self, image: Image) -> list[Face]:
        """Faces sorted by score, best first."""
        ...


class FaceEmbedder(Protocol):
    """Turns aligned faces into L2-normalised embeddings (cosine similarity)."""

    dim: int

    def embed(self, image: Image, faces: Sequence[Face]) -> FloatArray:
        """(len(faces), dim) float32 embeddings, one per face, L2-normalised."""
        ...

    def align(self, image: Image, face: Face) -> Image:
        """The aligned face crop the embedder sees (for display and masks)."""
        ...


class MaskClassifier(Protocol):
    """Says whether a face wears a mask."""

    def classify(self, face_crops: Sequence[Image]) -> FloatArray:
        """(N,) probability that a mask is worn, one per crop."""
        ...


def l2_normalise(vectors: np.ndarray) -> FloatArray:
    """Rows scaled to unit length (zero rows stay zero)."""
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=-1, keepdims=True)
    return (v / np.maximum(norms, 1e-12)).astype(np.float32)


class BodyEmbedder(Protocol):
    """Turns person boxes into appearance embeddings (clothing, build), L2-normalised."""

    dim: int

    def embed(self, image: Image, boxes: Sequence[Sequence[float]]) -> FloatArray:
        """(len(boxes), dim) float32 embeddings, one per box (cosine similarity)."""
        ...
