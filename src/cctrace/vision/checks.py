"""Input validation shared by the model adapters."""

from __future__ import annotations

from typing import Any

import numpy as np


def check_image(image: Any, *, name: str = "image", min_side: int = 1) -> None:
    """Raise ``ValueError`` unless ``image`` is a non-empty HxWx3 uint8 BGR array."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"{name} must be uint8 (BGR), got dtype {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{name} must be HxWx3 (BGR), got shape {image.shape}")
    if image.shape[0] < min_side or image.shape[1] < min_side:
        raise ValueError(f"{name} must be at least {min_side}x{min_side}, got {image.shape[:2]}")
