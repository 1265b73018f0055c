"""On-disk container for one shard of the sharded face index: named numpy sections,
each written as length-prefixed chunks, AES-GCM encrypted with the site's data key.

Layout: ``[len][header blob]`` then, per section, ``[len][chunk blob]...``. The header is
JSON naming each section's dtype, shape and chunk count. Every blob's associated data
names the file's ``context`` (shard key and generation), the section and the chunk's
position, so chunks cannot be swapped, dropped or moved between files undetected.
Without a cipher (benchmarks, tests) the same layout holds plaintext.

Sections are encrypted straight from the arrays' memory (64 MiB at a time) and decrypted
into preallocated arrays, so saving or loading a multi-gigabyte shard needs no second
copy of it.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from cctrace.privacy.crypto import HEADER_BYTES, TAG_BYTES, DataCipher, is_encrypted

CHUNK_BYTES = 64 << 20
"""Plaintext bytes per chunk."""
_LEN = struct.Struct("<Q")
_MAX_HEADER = 1 << 20
_DTYPES = {"int64", "int32", "float64", "float32", "uint8", "bool"}


def _seal(data: bytes | memoryview, cipher: DataCipher | None, aad: str) -> bytes:
    if cipher is None:
        return bytes(data)
    return cipher.encrypt(bytes(data), "index", aad)


def _open(blob: bytes, cipher: DataCipher | None, aad: str) -> bytes:
    if cipher is None:
        if is_encrypted(blob):
            raise ValueError("the shard is encrypted; no data key given")
        return blob
    if not is_encrypted(blob):
        raise ValueError(f"{aad}: expected an encrypted chunk")
    return cipher.decrypt(blob, "index", aad)


def write_sections(
    path: Path,
    sections: Mapping[str, npt.NDArray[np.generic]],
    cipher: DataCipher | None,
    context: str,
) -> int:
    """Write ``sections`` to ``path`` (flushed to disk); returns the file's size in bytes."""
    arrays = {name: np.ascontiguousarray(a) for name, a in sections.items()}
    chunks = {name: max(1, -(-a.nbytes // CHUNK_BYTES)) for name, a in arrays.items()}
    header = {
        name: {
            "dtype": str(a.dtype),
            "shape": list(a.shape),
            "chunks": chunks[name],
        }
        for name, a in arrays.items()
    }
    size = 0
    with open(path, "wb") as fh:

        def put(blob: bytes) -> None:
            nonlocal size
            fh.write(_LEN.pack(len(blob)))
            fh.write(blob)
            size += _LEN.size + len(blob)

        put(_seal(json.dumps(header).encode(), cipher, f"{context}:header"))
        for name, a in arrays.items():
            raw = memoryview(a.reshape(-1).view(np.uint8).data) if a.size else memoryview(b"")
            n_chunks = chunks[name]
            for i in range(n_chunks):
                piece = raw[i * CHUNK_BYTES : (i + 1) * CHUNK_BYTES]
                put(_seal(piece, cipher, f"{context}:{name}:{i}/{n_chunks}"))
        fh.flush()
        os.fsync(fh.fileno())
    return size


def _read_blob(fh: BinaryIO, limit: int, what: str) -> bytes:
    head = fh.read(_LEN.size)
    if len(head) != _LEN.size:
        raise ValueError(f"{what}: the file ends early")
    (size,) = _LEN.unpack(head)
    if size > limit:
        raise ValueError(f"{what}: a chunk claims {size} bytes")
    blob = fh.read(size)
    if len(blob) != size:
        raise ValueError(f"{what}: the file ends early")
    return blob


def read_sections(
    path: Path, cipher: DataCipher | None, context: str
) -> dict[str, npt.NDArray[np.generic]]:
    """The sections written by :func:`write_sections` (``ValueError`` when the file is
    damaged, was written for another context, or needs another key)."""
    limit = CHUNK_BYTES + HEADER_BYTES + TAG_BYTES
    out: dict[str, npt.NDArray[np.generic]] = {}
    with open(path, "rb") as fh:
        header = json.loads(
            _open(_read_blob(fh, _MAX_HEADER, path.name), cipher, f"{context}:header")
        )
        if not isinstance(header, dict):
            raise ValueError(f"{path.name}: unreadable header")
        for name, spec in header.items():
            dtype = str(spec["dtype"])
            if dtype not in _DTYPES:
                raise ValueError(f"{path.name}: unexpected dtype {dtype!r}")
            a = np.empty(tuple(int(s) for s in spec["shape"]), dtype=dtype)
            flat = a.reshape(-1).view(np.uint8)
            n_chunks = int(spec["chunks"])
            offset = 0
            for i in range(n_chunks):
                blob = _read_blob(fh, limit, path.name)
                plain = _open(blob, cipher, f"{context}:{name}:{i}/{n_chunks}")
                if offset + len(plain) > flat.size:
                    raise ValueError(f"{path.name}: section {name} is longer than its header")
                flat[offset : offset + len(plain)] = np.frombuffer(plain, np.uint8)
                offset += len(plain)
            if offset != flat.size:
                raise ValueError(f"{path.name}: section {name} is shorter than its header")
            out[name] = a
        if fh.read(1):
            raise ValueError(f"{path.name}: trailing bytes")
    return out
