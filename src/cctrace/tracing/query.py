"""Query photos: read an image, find exactly one face, embed it."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
from PIL import Image as PILImage

from cctrace.errors import PhotoError
from cctrace.ingest.models import ModelSet
from cctrace.privacy.crypto import DataCipher
from cctrace.types import FloatArray

MAX_PHOTO_BYTES = 20 * 1024 * 1024
MAX_PHOTO_PIXELS = 40_000_000
SECOND_FACE_RATIO = 0.35
"""A second face counts when its score and size reach this share of the best face's."""


PHOTO_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "BMP"})
"""Image formats accepted as query photos, told by their content (not their names)."""


def read_photo(path: str | Path, cipher: DataCipher | None = None) -> np.ndarray:
    """Decode an image file safely into BGR; ``PhotoError`` naming the file otherwise.

    With ``cipher``, a photo stored encrypted (the web app's uploads) is decrypted in
    memory first; a plain file reads as it is.
    """
    p = Path(path)
    if not p.is_file():
        raise PhotoError(f"{p}: photo not found")
    size = p.stat().st_size
    if size > MAX_PHOTO_BYTES + 64:
        raise PhotoError(f"{p}: photo is {size / 1e6:.1f} MB; the limit is 20 MB")
    raw = p.read_bytes()
    if cipher is not None:
        raw = cipher.decrypt(raw, "photo")
    width, height = _header_size(p, raw)
    if width * height > MAX_PHOTO_PIXELS:
        raise PhotoError(f"{p}: image is too large (over {MAX_PHOTO_PIXELS // 1_000_000} MP)")
    data = np.frombuffer(raw, np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None:
        raise PhotoError(f"{p}: not a readable image (JPEG, PNG, BMP or WebP expected)")
    return image


def _header_size(path: Path, raw: bytes) -> tuple[int, int]:
    """Width and height from the file's header alone (nothing is decoded), so a small
    file claiming a huge image is refused before it can take the memory."""
    try:
        with PILImage.open(io.BytesIO(raw)) as im:
            if im.format not in PHOTO_FORMATS:
                raise PhotoError(
                    f"{path}: a {im.format or 'file of unknown type'} image is not accepted "
                    "(JPEG, PNG, WebP or BMP expected)"
                )
            return int(im.size[0]), int(im.size[1])
    except PILImage.DecompressionBombError as exc:
        # Pillow refuses to even open a header this large (a decompression bomb).
        raise PhotoError(
            f"{path}: image is too large (over {MAX_PHOTO_PIXELS // 1_000_000} MP)"
        ) from exc
    except (PILImage.UnidentifiedImageError, OSError, ValueError) as exc:
        raise PhotoError(f"{path}: not a readable image (JPEG, PNG, BMP or WebP expected)") from exc


def embed_photo(path: str | Path, models: ModelSet, cipher: DataCipher | None = None) -> FloatArray:
    """The (1, D) embedding of the one face in a query photo (``cipher``: see
    :func:`read_photo`).

    Raises ``PhotoError`` when the photo holds no face or several comparable faces,
    saying which.
    """
    image = read_photo(path, cipher)
    faces = models.photo_face_detector.detect(image)
    if not faces:
        raise PhotoError(
            f"{path}: no face found; use a photo where the face is visible and at least "
            "about 40 pixels wide, or start from a tracklet (--tracklet)"
        )
    best = max(faces, key=lambda f: f.score * f.width)
    rivals = [
        f
        for f in faces
        if f is not best
        and f.score >= SECOND_FACE_RATIO * best.score
        and f.width >= SECOND_FACE_RATIO * best.width
    ]
    if rivals:
        boxes = ", ".join(
            f"({int(f.xyxy[0])},{int(f.xyxy[1])})-({int(f.xyxy[2])},{int(f.xyxy[3])})"
            for f in [best, *rivals]
        )
        raise PhotoError(
            f"{path}: {1 + len(rivals)} faces found at {boxes}; crop the photo to the case's "
            "face only"
        )
    return models.face_embedder.embed(image, [best])
