"""The audit log's keyed hash chain and its signed checkpoints ("anchors").

Each audit entry stores ``hash = HMAC-SHA256(audit key, prev_hash + canonical JSON of
the entry)``. The audit key is derived from the data key
(:meth:`~cctrace.privacy.crypto.DataCipher.derive_key` with :data:`AUDIT_KEY_LABEL`) and
is never written to the database, so someone who can write the database but does not
hold the data key cannot edit an entry and recompute the later hashes.

Entries written before the chain was keyed (cctrace before this change) keep their
plain ``sha256(prev_hash + JSON)`` hashes. The id of the first keyed entry is recorded
once, signed with the audit key, in ``store_meta`` (:data:`SWITCH_KEY`); entries before
it verify with the old scheme, and they are protected by the first keyed entry, whose
keyed hash covers their head.

A chain alone cannot show that its newest entries (or all of them) were deleted. So
after every append a **checkpoint** ``{count, head, time, ...}`` signed with the audit
key is appended as one JSON line to an anchor file outside the database (by default
``<data_dir>/audit/anchors.jsonl``; site setting ``audit.anchor_path``), and optionally
to syslog. ``cctrace audit verify`` checks every entry against the key and every
checkpoint against the chain: a checkpoint beyond the end of the chain is a deleted
tail, one whose head differs from the stored entry is a rewrite.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
"""``prev_hash`` of the first audit entry."""
AUDIT_KEY_LABEL = "cctrace audit chain v1"
"""HKDF label of the audit key (derived from the data key)."""
SWITCH_KEY = "audit_keyed_from"
"""``store_meta`` key of the signed record of the first keyed entry's id."""
ANCHOR_FILE = Path("audit") / "anchors.jsonl"
"""Default anchor file, relative to the data directory."""
ANCHOR_VERSION = 1
SYSLOG_TAG = "cctrace-audit-anchor"
"""Prefix of the syslog line carrying a checkpoint (the JSON follows it)."""
TAIL_BYTES = 64 * 1024
"""How much of the anchor file's end :meth:`AnchorLog.tail` reads."""


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no spaces, UTF-8, no NaN."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def audit_hash(prev_hash: str, entry: Mapping[str, Any]) -> str:
    """The unkeyed (legacy) hash: sha256 hex of ``prev_hash`` + the canonical JSON of the
    entry. Anyone can compute it; only entries before the keyed chain use it."""
    return hashlib.sha256((prev_hash + canonical_json(entry)).encode("utf-8")).hexdigest()


def audit_entry(
    entry_id: int,
    timestamp: datetime,
    actor: str,
    action: str,
    case_id: str | None,
    query: Mapping[str, Any],
    result: Mapping[str, Any],
) -> dict[str, Any]:
    """The hashed content of an audit entry."""
    return {
        "id": entry_id,
        "timestamp": timestamp.isoformat(),
        "actor": actor,
        "action": action,
        "case_id": case_id,
        "query": query,
        "result": result,
    }


class AuditKey:
    """The secret that keys the chain and signs checkpoints (never stored in the database).

    ``source`` says where it came from, for ``verify`` to print; ``key_id`` is a short
    fingerprint (safe to print and to store) that tells "another key" apart from "forged".
    """

    def __init__(self, key: bytes, source: str) -> None:
        if len(key) < 32:
            raise ValueError("an audit key must be at least 32 bytes")
        self._key = bytes(key)
        self.source = source
        self.key_id = hashlib.sha256(b"cctrace-audit-key-id\x00" + self._key).hexdigest()[:8]

    def __repr__(self) -> str:
        return f"AuditKey(key_id={self.key_id!r}, source={self.source!r})"

    def _mac(self, domain: str, text: str) -> str:
        msg = domain.encode() + b"\x00" + text.encode("utf-8")
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()

    def entry_hash(self, prev_hash: str, entry: Mapping[str, Any]) -> str:
        """The keyed hash of an entry: HMAC-SHA256 over ``prev_hash`` + its canonical JSON."""
        return self._mac("entry", prev_hash + canonical_json(entry))

    def sign(self, kind: str, payload: Mapping[str, Any]) -> str:
        """HMAC of a record of ``kind`` (its fields except ``mac``)."""
        body = {k: v for k, v in payload.items() if k != "mac"}
        return self._mac(kind, canonical_json(body))

    def signed(self, kind: str, payload: Mapping[str, Any]) -> bool:
        """Whether ``payload["mac"]`` is this key's signature of the rest of it."""
        mac = payload.get("mac")
        return isinstance(mac, str) and hmac.compare_digest(mac, self.sign(kind, payload))


@dataclass(frozen=True)
class Checkpoint:
    """One signed anchor line: the chain had ``count`` entries, the last one ``head``."""

    count: int
    head: str
    time: str
    keyed_from: int
    instance: str
    key_id: str
    line: int = 0
    """Line number in the anchor file (0 when not read from one)."""

    def payload(self) -> dict[str, Any]:
        """The signed fields."""
        return {
            "v": ANCHOR_VERSION,
            "count": self.count,
            "head": self.head,
            "time": self.time,
            "keyed_from": self.keyed_from,
            "instance": self.instance,
            "key_id": self.key_id,
        }


@dataclass
class AnchorRead:
    """What reading an anchor file found: verified checkpoints and the bad lines."""

    checkpoints: list[Checkpoint] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    exists: bool = False


class AnchorLog:
    """Append-only JSON-lines file of signed checkpoints (and optionally syslog).

    Each line is written with one ``write`` on a file opened ``O_APPEND`` and then
    fsynced, so concurrent writers never interleave and a line on disk survives a crash.
    The file may be on another disk, an append-only (``chattr +a``) file, or a mount
    another host collects; ``verify`` also accepts a copy (for example lines gathered
    from syslog) in the same format.
    """

    _lock = threading.Lock()

    def __init__(self, path: Path, syslog: bool = False) -> None:
        self.path = Path(path)
        self.syslog = syslog

    def append(self, key: AuditKey, cp: Checkpoint) -> None:
        """Sign ``cp`` with ``key`` and append it (``OSError`` if the file cannot be written)."""
        payload = cp.payload()
        payload["mac"] = key.sign("checkpoint", payload)
        line = canonical_json(payload)
        data = (line + "\n").encode("utf-8")
        with self._lock:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
        if self.syslog:
            _to_syslog(f"{SYSLOG_TAG} {line}")

    def read(self, key: AuditKey, instance: str) -> AnchorRead:
        """Every checkpoint in the file, each checked against ``key`` and ``instance``."""
        out = AnchorRead()
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return out
        except OSError as exc:
            out.problems.append(f"cannot read the anchor file {self.path}: {exc}")
            return out
        out.exists = True
        lines = raw.split(b"\n")
        torn = lines[-1] != b""  # the last line has no newline: a write cut short
        for number, text in enumerate(lines, start=1):
            if not text.strip():
                continue
            cp, problem = _parse_line(text, number, key, instance)
            if cp is not None:
                out.checkpoints.append(cp)
            elif torn and number == len(lines):
                out.notes.append(f"anchor line {number} is incomplete (a write cut short); ignored")
            else:
                out.problems.append(f"{self.path}: {problem}")
        return out

    def tail(self, key: AuditKey, instance: str) -> list[Checkpoint]:
        """The valid checkpoints in the last :data:`TAIL_BYTES` of the file (cheap)."""
        try:
            with open(self.path, "rb") as fh:
                size = fh.seek(0, os.SEEK_END)
                fh.seek(max(0, size - TAIL_BYTES))
                raw = fh.read()
        except OSError:
            return []
        lines = raw.split(b"\n")
        if len(raw) >= TAIL_BYTES:
            lines = lines[1:]  # the first line read may start mid-line
        found = []
        for text in lines:
            cp, _ = _parse_line(text, 0, key, instance) if text.strip() else (None, "")
            if cp is not None:
                found.append(cp)
        return found


def _parse_line(
    text: bytes, number: int, key: AuditKey, instance: str
) -> tuple[Checkpoint | None, str]:
    """The checkpoint on one line, or None and why it is refused."""
    try:
        data = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None, f"line {number} is not a JSON checkpoint"
    if not isinstance(data, dict) or data.get("v") != ANCHOR_VERSION:
        return None, f"line {number} is not a version-{ANCHOR_VERSION} checkpoint"
    try:
        cp = Checkpoint(
            count=int(data["count"]),
            head=str(data["head"]),
            time=str(data["time"]),
            keyed_from=int(data["keyed_from"]),
            instance=str(data["instance"]),
            key_id=str(data["key_id"]),
            line=number,
        )
    except (KeyError, TypeError, ValueError):
        return None, f"line {number} lacks a checkpoint field"
    if cp.key_id != key.key_id:
        return None, (
            f"line {number} was signed with another audit key (key id {cp.key_id}, this key "
            f"{key.key_id}): was the data key changed?"
        )
    if not key.signed("checkpoint", data):
        return None, f"line {number} has a bad signature (the checkpoint was altered)"
    if cp.instance != instance:
        return None, (
            f"line {number} anchors another database (instance {cp.instance}, this one "
            f"{instance}), or this database's instance id was changed"
        )
    return cp, ""


def _to_syslog(message: str) -> None:
    try:
        import syslog

        syslog.openlog("cctrace", 0, syslog.LOG_AUTH)
        syslog.syslog(syslog.LOG_INFO, message)
    except (ImportError, OSError) as exc:  # pragma: no cover - no syslog on this system
        log.error("cannot write an audit checkpoint to syslog: %s", exc)


@dataclass
class AuditReport:
    """What ``verify`` checked and found.

    ``ok`` is False when any entry was edited, rewritten, moved, replayed or deleted, or
    a checkpoint or the switch record does not match. ``first_bad`` is the first entry
    that fails (an existing entry that does not verify, or the first missing id).
    """

    entries: int = 0
    """Entries in the database."""
    verified: int = 0
    """Entries that verified, from the first (the chain is valid up to this id)."""
    verified_hash: str = GENESIS_HASH
    """The hash of entry ``verified`` (to carry on from it later)."""
    keyed_from: int | None = None
    """Id of the first keyed entry (None: no entry was written by a keyed cctrace)."""
    key_id: str = ""
    key_source: str = ""
    anchor_path: str = ""
    anchor_exists: bool = False
    checkpoints: int = 0
    last_anchored: int | None = None
    """The highest entry count a checkpoint anchors."""
    last_anchored_time: str | None = None
    first_bad: int | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No problem found."""
        return not self.problems

    @property
    def legacy_entries(self) -> int:
        """Entries that verify with the old unkeyed hash."""
        if self.keyed_from is None:
            return self.entries
        return max(0, min(self.entries, self.keyed_from - 1))

    def bad(self, entry_id: int | None, problem: str) -> None:
        """Record a problem (and the first bad entry, if this is the first one)."""
        self.problems.append(problem)
        if entry_id is not None and (self.first_bad is None or entry_id < self.first_bad):
            self.first_bad = entry_id

    def checked_against(self) -> list[str]:
        """Lines saying what this verification relied on (for ``verify`` to print)."""
        out = [
            f"key: audit key {self.key_id}, derived from the data key ({self.key_source})",
        ]
        if self.keyed_from is None:
            out.append(f"chain: {self.entries} entries, all unkeyed (none written since keying)")
        else:
            out.append(
                f"chain: {self.entries} entries; keyed from entry {self.keyed_from}"
                + (f", {self.legacy_entries} earlier unkeyed" if self.legacy_entries else "")
            )
        if not self.anchor_exists:
            out.append(f"anchors: {self.anchor_path} (no checkpoints yet)")
        else:
            last = (
                f"last anchored count {self.last_anchored} at {self.last_anchored_time}"
                if self.last_anchored is not None
                else "none valid"
            )
            out.append(f"anchors: {self.anchor_path}: {self.checkpoints} checkpoints, {last}")
        return out
