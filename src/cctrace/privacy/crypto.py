"""Encryption at rest of derived biometric data: face embeddings, face crops, index files.

AES-256-GCM with a random 12-byte nonce per blob. An encrypted blob is::

    b"CCE1" | key id (4 bytes) | nonce (12 bytes) | ciphertext + 16-byte tag

The magic prefix makes encrypted blobs recognisable, so data written before
encryption existed (plain float32 vectors, plain JPEG files) still reads back as is.
The key id (4 bytes of a hash of the key, not the key) tells "the key changed" apart
from "the data was altered". The associated data names the kind of blob (and an
optional context such as the owning tracklet), so a blob cannot be moved to another
place undetected.

The key is ``$CCTRACE_DATA_KEY`` (url-safe base64 of 32 random bytes); else the file
``$CCTRACE_DATA_KEY_FILE``; else ``<data_dir>/keys/data.key``, created on first use
(with a warning: a key stored beside the data protects only against the data being
copied without it).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from cctrace.errors import ConfigError, StoreError
from cctrace.privacy.secrets import check_secret

log = logging.getLogger(__name__)

MAGIC = b"CCE1"
"""Prefix of every encrypted blob (format version 1)."""
KEY_BYTES = 32
NONCE_BYTES = 12
KEY_ID_BYTES = 4
TAG_BYTES = 16
HEADER_BYTES = len(MAGIC) + KEY_ID_BYTES + NONCE_BYTES
KEY_ENV = "CCTRACE_DATA_KEY"
KEY_FILE_ENV = "CCTRACE_DATA_KEY_FILE"
KEY_FILE = Path("keys") / "data.key"
"""Default key file, relative to the data directory."""
GENERATE_HINT = (
    "python -c 'import base64,os;print(base64.urlsafe_b64encode(os.urandom(32)).decode())'"
)

BlobKind = Literal["embedding", "crop", "index", "checkpoint", "body", "photo"]
"""What a blob holds; part of the associated data."""

_warned: set[Path] = set()
WARNED_ENV = "CCTRACE_KEY_WARNED"
"""Set once the warning about a key file beside the data was given (child processes of
the same command inherit it, so a parallel ingest warns once, not once per camera)."""
_warn_lock = threading.Lock()


def key_id(key: bytes) -> bytes:
    """A 4-byte fingerprint of ``key`` (identifies it; reveals nothing usable)."""
    return hashlib.sha256(b"cctrace-data-key-id\x00" + key).digest()[:KEY_ID_BYTES]


def is_encrypted(blob: bytes | bytearray | memoryview) -> bool:
    """Whether ``blob`` starts with the encrypted-blob prefix."""
    return bytes(blob[: len(MAGIC)]) == MAGIC


class DataCipher:
    """AES-256-GCM for blobs of one kind; see the module docstring for the format."""

    def __init__(self, key: bytes, source: str = "given by the caller") -> None:
        if len(key) != KEY_BYTES:
            raise ConfigError(f"a data key must be {KEY_BYTES} bytes, got {len(key)}")
        self._aead = AESGCM(key)
        self._key_id = key_id(key)
        self._key = bytes(key)
        self.source = source
        """Where the key came from (``$CCTRACE_DATA_KEY``, a key file; safe to print)."""

    def derive_key(self, label: str) -> bytes:
        """A 32-byte subkey for another purpose (HKDF-SHA256 of the data key, ``label``
        as the info), so one secret serves every key cctrace needs; a subkey reveals
        nothing about the data key or about subkeys with other labels."""
        hkdf = HKDF(algorithm=SHA256(), length=KEY_BYTES, salt=None, info=label.encode())
        return hkdf.derive(self._key)

    @property
    def key_id(self) -> str:
        """Hex fingerprint of the key (safe to log)."""
        return self._key_id.hex()

    @staticmethod
    def _aad(kind: BlobKind, context: str) -> bytes:
        return f"cctrace:{kind}:{context}".encode()

    def encrypt(self, data: bytes, kind: BlobKind, context: str = "") -> bytes:
        """``data`` encrypted and authenticated as a blob of ``kind`` (and ``context``)."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, bytes(data), self._aad(kind, context))
        return MAGIC + self._key_id + nonce + sealed

    def decrypt(
        self, blob: bytes | bytearray | memoryview, kind: BlobKind, context: str = ""
    ) -> bytes:
        """The plaintext of ``blob``; a blob without the prefix (written before encryption)
        comes back unchanged. :class:`StoreError` when the key does not match or the blob
        was altered."""
        data = bytes(blob)
        if not is_encrypted(data):
            return data
        if len(data) < HEADER_BYTES + TAG_BYTES:
            raise StoreError(f"an encrypted {kind} is truncated ({len(data)} bytes)")
        stored_id = data[len(MAGIC) : len(MAGIC) + KEY_ID_BYTES]
        if stored_id != self._key_id:
            raise StoreError(
                f"cannot decrypt a stored {kind}: the data key does not match the key it was "
                f"written with (key {stored_id.hex()}, this key {self.key_id}); was "
                f"{KEY_ENV} changed?"
            )
        nonce = data[len(MAGIC) + KEY_ID_BYTES : HEADER_BYTES]
        try:
            return self._aead.decrypt(nonce, data[HEADER_BYTES:], self._aad(kind, context))
        except InvalidTag:
            raise StoreError(
                f"cannot decrypt a stored {kind}: it was altered, corrupted or moved "
                "(authentication failed with the right key)"
            ) from None


def parse_key(value: str, name: str) -> bytes:
    """The 32-byte key in ``value`` (url-safe base64), checked as secret ``name``;
    :class:`ConfigError` naming the variable and how to make a key otherwise."""
    text = value.strip()
    try:
        check_secret(name, text, min_length=43)
    except ConfigError as exc:
        raise ConfigError(f"{exc}; a data key is generated with: {GENERATE_HINT}") from None
    try:
        key = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise ConfigError(
            f"${name} must be url-safe base64 of exactly {KEY_BYTES} random bytes "
            f"(got {len(key) or 'no valid'} bytes); generate one with: {GENERATE_HINT}"
        )
    return key


def _read_key_file(path: Path, name: str) -> bytes:
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"${name}: cannot read the data key file {path}: {exc}") from exc
    return parse_key(text, name)


def _create_key_file(path: Path) -> None:
    """Write a new random key to ``path`` (mode 0600, folder 0700) unless one exists.

    The key goes to a temporary file that is hard-linked into place, so two processes
    starting together agree on one key and nobody reads half a file.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    text = base64.urlsafe_b64encode(os.urandom(KEY_BYTES)) + b"\n"
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        with contextlib.suppress(FileExistsError):  # another process made it first
            os.link(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def load_data_cipher(data_dir: Path | str) -> DataCipher:
    """The data cipher for a data directory.

    ``$CCTRACE_DATA_KEY`` if set; else the file ``$CCTRACE_DATA_KEY_FILE``; else
    ``<data_dir>/keys/data.key``, created on first use, with a warning (once per
    process) that the key lies beside the data.
    """
    value = os.environ.get(KEY_ENV)
    if value:
        return DataCipher(parse_key(value, KEY_ENV), source=f"${KEY_ENV}")
    key_file = os.environ.get(KEY_FILE_ENV)
    if key_file:
        file = Path(key_file).expanduser()
        return DataCipher(_read_key_file(file, KEY_FILE_ENV), source=f"${KEY_FILE_ENV} ({file})")
    path = Path(data_dir).resolve() / KEY_FILE
    if not path.exists():
        _create_key_file(path)
        log.info("created a new data key in %s", path)
    with _warn_lock:
        # Once per command: worker processes inherit the marker and stay quiet.
        if path not in _warned and os.environ.get(WARNED_ENV) != str(path):
            _warned.add(path)
            os.environ[WARNED_ENV] = str(path)
            log.warning(
                "face data is encrypted with the key file %s, stored beside the data; in "
                "production set %s (generate one with: %s)",
                path,
                KEY_ENV,
                GENERATE_HINT,
            )
    return DataCipher(
        _read_key_file(path, f"{KEY_FILE_ENV} (default {path})"),
        source=f"key file {path} (default, beside the data)",
    )
