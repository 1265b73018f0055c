"""Snapshots embedded in the HTML report as small base64 JPEG data URIs.

Snapshot files are written (already redacted) by the pipeline; here they are
only downscaled and re-encoded so the report stays small and self-contained. A
missing or unreadable file yields None (the template shows a placeholder).
"""

from __future__ import annotations

import base64
import io
import logging
import os
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

logger = logging.getLogger(__name__)

MAX_WIDTH = 320
"""Embedded snapshots are at most this wide (pixels); about 2x their print size."""
MAX_HEIGHT = 400
JPEG_QUALITY = 80


class SnapshotEmbedder:
    """Turns snapshot paths into data URIs, once per path."""

    def __init__(
        self,
        base_dir: str | os.PathLike[str] | None = None,
        max_width: int = MAX_WIDTH,
        max_height: int = MAX_HEIGHT,
        quality: int = JPEG_QUALITY,
    ) -> None:
        """``base_dir`` resolves relative snapshot paths (default: the working directory)."""
        self.base_dir = Path(base_dir) if base_dir is not None else None
        self.max_width = max_width
        self.max_height = max_height
        self.quality = quality
        self._cache: dict[str, str | None] = {}
        self.missing: list[str] = []
        """Paths that could not be embedded, in the order first met."""

    def _resolve(self, path: str) -> Path:
        p = Path(path)
        return p if p.is_absolute() or self.base_dir is None else self.base_dir / p

    def data_uri(self, path: str | None) -> str | None:
        """``data:image/jpeg;base64,...`` for the snapshot, or None when unavailable."""
        if not path:
            return None
        if path not in self._cache:
            self._cache[path] = self._encode(path)
            if self._cache[path] is None:
                self.missing.append(path)
        return self._cache[path]

    def _encode(self, path: str) -> str | None:
        file = self._resolve(path)
        try:
            with Image.open(file) as img:
                img.load()
                pic = ImageOps.exif_transpose(img).convert("RGB")
        except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as exc:
            logger.warning("snapshot %s not embedded: %s", file, exc)
            return None
        pic.thumbnail((self.max_width, self.max_height), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        pic.save(buf, format="JPEG", quality=self.quality, optimize=True)
        return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
