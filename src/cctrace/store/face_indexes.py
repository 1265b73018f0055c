"""Which face index a site uses, and where it lives.

``storage.index.type: exact`` (the default) is :class:`~cctrace.store.vector_index.FaceIndex`
in ``<data_dir>/index``, opened afresh for every trace as before. ``ivf`` is the
day-sharded :class:`~cctrace.store.sharded_index.ShardedFaceIndex` in
``<data_dir>/index-ivf``: one instance per folder is kept for the life of the process,
since loading a city-day (gigabytes) for every trace would cost seconds; each trace
still syncs it with the database, and a purge in another process is picked up by its
newer saved generation.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from cctrace.privacy.crypto import DataCipher

from .sharded_index import DEFAULT_NPROBE, ShardedFaceIndex
from .vector_index import FaceIndex

EXACT_DIR = "index"
IVF_DIR = "index-ivf"


class IndexSettings(Protocol):
    """What :func:`open_face_index` reads from ``storage.index``."""

    @property
    def type(self) -> str: ...

    @property
    def nprobe(self) -> int: ...

    def camera_districts(self) -> dict[str, str]: ...


_open: dict[Path, ShardedFaceIndex] = {}
_open_lock = threading.Lock()


def open_face_index(
    data_dir: Path, settings: IndexSettings | None = None, cipher: DataCipher | None = None
) -> FaceIndex | ShardedFaceIndex:
    """The face index of the site whose data directory is ``data_dir`` (sync it with the
    store before searching)."""
    if settings is None or settings.type == "exact":
        return FaceIndex(data_dir / EXACT_DIR, cipher=cipher)
    directory = (data_dir / IVF_DIR).resolve()
    districts: Mapping[str, str] = settings.camera_districts()
    with _open_lock:
        index = _open.get(directory)
        if index is None or index.nprobe != settings.nprobe or index.districts != districts:
            index = ShardedFaceIndex(
                directory, cipher=cipher, nprobe=settings.nprobe, districts=districts
            )
            _open[directory] = index
        return index


def open_sharded_index(directory: Path, cipher: DataCipher | None) -> ShardedFaceIndex:
    """The process's instance for ``directory`` if it has one, else a new one (for the
    retention purge, which has no site settings)."""
    with _open_lock:
        index = _open.get(directory.resolve())
    return index or ShardedFaceIndex(directory, cipher=cipher, nprobe=DEFAULT_NPROBE)


def forget_open_indexes() -> None:
    """Drop the process's open sharded indexes (tests; memory)."""
    with _open_lock:
        _open.clear()
