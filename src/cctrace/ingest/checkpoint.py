"""Ingest checkpoints as versioned, authenticated, explicit state (no pickle).

A checkpoint is written every ``checkpoint_seconds`` of footage so a killed ingest
resumes with the same tracker state. Layout (version 2)::

    b"CCTRCKP\\0" | version (2 bytes, big-endian) | HMAC-SHA256 (32 bytes) | payload

The HMAC key is derived from the data key (:meth:`DataCipher.derive_key` with
:data:`KEY_LABEL`), which the database does not hold, and the MAC covers the header,
the footage file it belongs to (id, sha256 and camera) and the payload. Nothing is
parsed before the MAC checks out, so a database writer cannot plant state; a
checkpoint of another file, an unknown version, or a blob from cctrace before
versioned checkpoints (a bare pickle) is refused with :class:`CheckpointError`.

The payload is :func:`cctrace.state.pack` of ``{"processor":
CameraProcessor.to_state()}``: a JSON document of plain numbers and text, then an
``.npz`` of the numpy arrays it names, read with ``allow_pickle=False``. The data
never names a class: what gets built is decided by the code reading it
(``from_state``). Version 1 (a pickle of the processor, cctrace before its own
ByteTrack) is refused with the command that starts the file over. The stored blob is
also AES-GCM encrypted by the store (kind ``checkpoint``).
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from typing import TYPE_CHECKING

from cctrace.errors import StoreError

if TYPE_CHECKING:
    from cctrace.ingest.camera import CameraProcessor
    from cctrace.store.records import FootageRecord

MAGIC = b"CCTRCKP\0"
VERSION = 2
"""The version this cctrace writes (and the only one it reads)."""
PICKLE_VERSION = 1
"""Checkpoints of cctrace before explicit state: a pickle, never loaded."""
KEY_LABEL = "cctrace ingest checkpoint v1"
"""HKDF label of the checkpoint MAC key (the MAC covers the version too)."""
MAC_BYTES = 32
HEADER = struct.Struct(">8sH")


class CheckpointError(StoreError):
    """A checkpoint that cannot be trusted or read: restart the file's ingest."""


def _binding(footage: FootageRecord) -> bytes:
    return f"{footage.id}:{footage.sha256}:{footage.camera_id}".encode()


def _mac(key: bytes, header: bytes, footage: FootageRecord, payload: bytes) -> bytes:
    mac = hmac.new(key, header, hashlib.sha256)
    binding = _binding(footage)
    mac.update(struct.pack(">I", len(binding)) + binding)
    mac.update(payload)
    return mac.digest()


def encode_checkpoint(processor: CameraProcessor, footage: FootageRecord, key: bytes) -> bytes:
    """``processor``'s state for ``footage``, versioned and authenticated with ``key``."""
    from cctrace.state import pack

    payload = pack({"processor": processor.to_state()})
    header = HEADER.pack(MAGIC, VERSION)
    return header + _mac(key, header, footage, payload) + payload


def decode_checkpoint(blob: bytes, footage: FootageRecord, key: bytes) -> CameraProcessor:
    """The processor a checkpoint of ``footage`` holds; :class:`CheckpointError` when it
    is not a version-2 checkpoint of this file written with this key."""
    from cctrace.ingest.camera import CameraProcessor
    from cctrace.state import unpack

    where = f"the checkpoint of footage {footage.id} ({footage.path})"
    if len(blob) < HEADER.size + MAC_BYTES or not blob.startswith(MAGIC):
        raise CheckpointError(
            f"{where} is not a versioned checkpoint (written by an older cctrace?); "
            "it is never loaded: reset the file's ingest to start it again"
        )
    header = blob[: HEADER.size]
    _, version = HEADER.unpack(header)
    if version == PICKLE_VERSION:
        raise CheckpointError(
            f"{where} was written by an older cctrace (version 1, a pickle); this cctrace "
            "never loads pickles: reset the file's ingest to start it again"
        )
    if version != VERSION:
        raise CheckpointError(
            f"{where} has version {version}; this cctrace reads version {VERSION} only"
        )
    stored = blob[HEADER.size : HEADER.size + MAC_BYTES]
    payload = blob[HEADER.size + MAC_BYTES :]
    if not hmac.compare_digest(stored, _mac(key, header, footage, payload)):
        raise CheckpointError(
            f"{where} failed authentication: altered, written for another file, or with "
            "another data key"
        )
    try:
        tree = unpack(payload)
        if not isinstance(tree, dict) or "processor" not in tree:
            raise ValueError("no processor in it")
        return CameraProcessor.from_state(tree["processor"])
    except (ValueError, KeyError, TypeError) as exc:  # authentic, but not readable here
        raise CheckpointError(f"{where} cannot be read: {type(exc).__name__}: {exc}") from exc
