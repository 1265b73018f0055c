"""Ingest checkpoints as versioned, authenticated state.

A checkpoint is written every ``checkpoint_seconds`` of footage so a killed ingest
resumes with the same tracker state. Layout (version 1)::

    b"CCTRCKP\\0" | version (2 bytes, big-endian) | HMAC-SHA256 (32 bytes) | payload

The HMAC key is derived from the data key (:meth:`DataCipher.derive_key` with
:data:`KEY_LABEL`), which the database does not hold, and the MAC covers the header,
the footage file it belongs to (id, sha256 and camera) and the payload. Nothing is
deserialised before the MAC checks out, so a database writer cannot plant state; a
checkpoint of another file, an unknown version, or a blob from cctrace before
versioned checkpoints (a bare pickle) is refused with :class:`CheckpointError`.

What the payload is: version 1 holds the :class:`~cctrace.ingest.camera.CameraProcessor`
as a pickle, because its tracker state includes the ``trackers``/``supervision``
ByteTrack objects (Kalman filters, track lists) that have no stable serialised form of
their own. It is unpickled only after the MAC checks out, and then by an unpickler that
resolves classes from cctrace, numpy, trackers, supervision and a few standard types
only. The stored blob is also AES-GCM encrypted by the store (kind ``checkpoint``).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import pickle
import struct
from typing import TYPE_CHECKING, Any

from cctrace.errors import StoreError

if TYPE_CHECKING:
    from cctrace.ingest.camera import CameraProcessor
    from cctrace.store.records import FootageRecord

MAGIC = b"CCTRCKP\0"
VERSION = 1
"""The version this cctrace writes (and the only one it reads)."""
KEY_LABEL = "cctrace ingest checkpoint v1"
"""HKDF label of the checkpoint MAC key."""
MAC_BYTES = 32
HEADER = struct.Struct(">8sH")

ALLOWED_PACKAGES = ("cctrace", "trackers", "supervision")
"""Packages (and their submodules) an unpickled checkpoint may take classes from."""
ALLOWED_NAMES = frozenset(
    {
        ("builtins", name)
        for name in ("set", "frozenset", "list", "dict", "tuple", "slice", "complex", "range")
    }
    | {("collections", name) for name in ("OrderedDict", "defaultdict", "deque", "Counter")}
    | {("datetime", name) for name in ("datetime", "date", "time", "timedelta", "timezone")}
    | {("pathlib", name) for name in ("Path", "PosixPath", "PurePosixPath", "WindowsPath")}
    | {("ruamel.yaml.timestamp", "TimeStamp")}  # a datetime read from the site file
    | {("copyreg", "_reconstructor"), ("enum", "Enum")}
    | {("numpy", name) for name in ("dtype", "ndarray")}
    | {
        (f"numpy.{core}.{module}", name)
        for core in ("core", "_core")
        for module, name in (
            ("multiarray", "_reconstruct"),
            ("multiarray", "scalar"),
            ("numeric", "_frombuffer"),
        )
    }
)
"""Other (module, name) pairs it may use: plain containers, times, paths, numpy arrays."""


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
    payload = pickle.dumps(processor, protocol=pickle.HIGHEST_PROTOCOL)
    header = HEADER.pack(MAGIC, VERSION)
    return header + _mac(key, header, footage, payload) + payload


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        package = module.split(".", 1)[0]
        dtype = module == "numpy.dtypes" and name.endswith("DType")
        if package not in ALLOWED_PACKAGES and (module, name) not in ALLOWED_NAMES and not dtype:
            raise CheckpointError(f"a checkpoint may not hold {module}.{name}")
        return super().find_class(module, name)


def decode_checkpoint(blob: bytes, footage: FootageRecord, key: bytes) -> CameraProcessor:
    """The processor a checkpoint of ``footage`` holds; :class:`CheckpointError` when it
    is not a version-1 checkpoint of this file written with this key."""
    from cctrace.ingest.camera import CameraProcessor

    where = f"the checkpoint of footage {footage.id} ({footage.path})"
    if len(blob) < HEADER.size + MAC_BYTES or not blob.startswith(MAGIC):
        raise CheckpointError(
            f"{where} is not a versioned checkpoint (written by an older cctrace?); "
            "it is never loaded: reset the file's ingest to start it again"
        )
    header = blob[: HEADER.size]
    _, version = HEADER.unpack(header)
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
        processor = _Unpickler(io.BytesIO(payload)).load()
    except CheckpointError:
        raise
    except Exception as exc:  # an authentic payload this cctrace cannot read
        raise CheckpointError(f"{where} cannot be read: {type(exc).__name__}: {exc}") from exc
    if not isinstance(processor, CameraProcessor):
        raise CheckpointError(f"{where} does not hold a camera processor")
    return processor
