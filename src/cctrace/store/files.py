"""Derived image files (face crops, snapshots) under the data directory.

Names are deterministic (camera, footage id, track id, frame index), so a retried
batch overwrites its files instead of duplicating them. Each write goes to a
temporary file first and is renamed into place, so a reader never sees half a JPEG.

Face crops are unredacted faces: they are encrypted at rest (``*.jpg.enc``, see
:mod:`cctrace.privacy.crypto`) and read back with :func:`read_crop`. Snapshots are
redacted when taken (every other person blurred) and stay plain JPEG files.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from pathlib import Path, PurePosixPath

import cv2
import numpy as np

from cctrace.privacy.crypto import DataCipher
from cctrace.types import Image

from .records import InvalidInputError

log = logging.getLogger(__name__)

CROPS_DIR = "crops"
SNAPSHOTS_DIR = "snapshots"
JPEG_QUALITY = 92
CROP_SUFFIX = ".jpg.enc"
"""Face crops are encrypted JPEG files."""
_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def safe_component(name: str) -> str:
    """A file-name-safe form of ``name`` (a camera id), unique per distinct name.

    Names already made of ``[A-Za-z0-9._-]`` are kept; others have unsafe characters
    replaced and a short hash appended, so two ids never share a folder.
    """
    cleaned = _SAFE.sub("_", name)
    if cleaned == name and name not in ("", ".", ".."):
        return name
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]
    return f"{cleaned.strip('.') or 'x'}-{digest}"


def crop_relpath(camera_id: str, footage_id: int, track_id: int, frame_index: int, n: int) -> str:
    """Relative path of the ``n``-th face crop of a track at a frame."""
    name = f"t{track_id}_f{frame_index}_{n}{CROP_SUFFIX}"
    return str(PurePosixPath(CROPS_DIR, safe_component(camera_id), str(footage_id), name))


def snapshot_relpath(camera_id: str, footage_id: int, track_id: int) -> str:
    """Relative path of a track's redacted snapshot."""
    name = f"t{track_id}.jpg"
    return str(PurePosixPath(SNAPSHOTS_DIR, safe_component(camera_id), str(footage_id), name))


def encode_jpeg(image: Image) -> bytes:
    """JPEG bytes of a BGR (or grey) uint8 image."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim not in (2, 3) or arr.size == 0:
        raise InvalidInputError(
            f"expected a non-empty HxW or HxWx3 uint8 image, got {arr.dtype} {arr.shape}"
        )
    if arr.ndim == 3 and arr.shape[2] not in (1, 3):
        raise InvalidInputError(f"expected 1 or 3 channels, got shape {arr.shape}")
    ok, buf = cv2.imencode(
        ".jpg", np.ascontiguousarray(arr), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
    )
    if not ok:
        raise InvalidInputError(f"could not encode a {arr.shape} image as JPEG")
    return bytes(buf.tobytes())


def write_file_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=path.suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_crop(path: Path | str, cipher: DataCipher) -> bytes:
    """The JPEG bytes of a face crop file (decrypted; a crop written before encryption
    reads back as it is). ``OSError`` if unreadable, :class:`StoreError` if the key
    does not match."""
    return cipher.decrypt(Path(path).read_bytes(), "crop")


class FileBatch:
    """Files written for one batch; removes the new ones if the batch is abandoned."""

    def __init__(self, root: Path, cipher: DataCipher) -> None:
        self.root = root
        self.cipher = cipher
        self._created: list[Path] = []

    def write_jpeg(self, relpath: str, image: Image) -> None:
        """Encode and write one (redacted) image under the data directory, unencrypted."""
        self._write(relpath, encode_jpeg(image))

    def write_crop(self, relpath: str, image: Image) -> None:
        """Encode, encrypt and write one face crop under the data directory."""
        self._write(relpath, self.cipher.encrypt(encode_jpeg(image), "crop"))

    def _write(self, relpath: str, data: bytes) -> None:
        path = self.root / relpath
        existed = path.exists()
        write_file_atomic(path, data)
        if not existed:
            self._created.append(path)

    def discard(self) -> None:
        """Best-effort removal of the files this batch created (not the overwritten ones)."""
        for path in self._created:
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:  # pragma: no cover - best effort
                log.warning("could not remove orphan file %s: %s", path, exc)
        self._created.clear()
