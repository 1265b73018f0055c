"""The append-only audit log: a keyed hash chain, anchored by signed checkpoints.

See :mod:`cctrace.store.audit_chain` for the scheme and what it protects against.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from cctrace.errors import StoreError

from . import _convert
from ._base import Repository, check_text, json_dict, require_aware, retry_on_conflict
from .audit_chain import (
    AUDIT_KEY_LABEL,
    GENESIS_HASH,
    SWITCH_KEY,
    AnchorLog,
    AuditKey,
    AuditReport,
    Checkpoint,
    audit_entry,
    audit_hash,
    canonical_json,
)
from .records import AuditRecord
from .schema import AuditRow, StoreMetaRow, utcnow

log = logging.getLogger(__name__)

AUDIT_LOCK_ID = 0x63637472  # "cctr": PostgreSQL advisory lock taken by audit appends


class AuditLog(Repository):
    """The audit log (``store.audit``): appending entries, reading and verifying them."""

    _audit_key_cache: AuditKey | None = None

    @property
    def key(self) -> AuditKey:
        """The audit key: HKDF of the data key (``self.cipher``), never stored in the DB."""
        if self._audit_key_cache is None:
            self._audit_key_cache = AuditKey(
                self.cipher.derive_key(AUDIT_KEY_LABEL), self.cipher.source
            )
        return self._audit_key_cache

    @property
    def anchors(self) -> AnchorLog:
        """Where checkpoints are appended (``audit.anchor_path`` of the site)."""
        return AnchorLog(self._base.audit_anchor_path, syslog=self._base.audit_syslog)

    # ---- writing ---------------------------------------------------------------------

    def check_data_key(self) -> None:
        """:class:`StoreError` unless this process's data key is the one the database's
        audit chain was started with (nothing to compare on a database without one).

        Every process on a shared database (web workers, ingest, Ray nodes, the CLI on any
        host) must hold the same key: one started without it would make a new key beside
        the data, key its audit entries with it (breaking the chain for good) and encrypt
        faces nobody else can read. Called before every audit append and every ingest."""
        with self._read() as s:
            row = s.execute(
                select(StoreMetaRow.value).where(StoreMetaRow.key == SWITCH_KEY)
            ).first()
        if row is not None:
            self._check_switch_key(row[0], self.key)

    def _check_switch_key(self, value: str, key: AuditKey) -> None:
        try:
            started_with = json.loads(value).get("key_id")
        except (ValueError, AttributeError):
            return  # unreadable: `cctrace audit verify` reports it
        if started_with is not None and started_with != key.key_id:
            raise StoreError(
                f"the data key of this process ({self.cipher.source}) is not the key this "
                f"database was started with (audit key id {started_with}, this key "
                f"{key.key_id}); nothing was written. Give every process and host the same "
                "key: set CCTRACE_DATA_KEY_FILE (or CCTRACE_DATA_KEY) in the environment of "
                "cctrace serve, cctrace ingest, `ray start` on every node, and the CLI"
            )

    def append(
        self,
        actor: str,
        action: str,
        case_id: str | None,
        query: Mapping[str, Any],
        result: Mapping[str, Any],
    ) -> AuditRecord:
        """Append one entry to the keyed hash chain (who, what, why, how many), then a
        signed checkpoint of the new head to the anchor file.

        ``query`` and ``result`` must be JSON-serialisable (result: counts, not data).
        A checkpoint that cannot be written is logged as an error (the entry stays;
        ``verify`` reports the entries no checkpoint covers).
        """
        q, r = self._fields(actor, action, case_id, query, result)

        def append() -> tuple[AuditRecord, int]:
            with self._write() as s:
                return self._append_in(s, actor, action, case_id, q, r)

        # Inside a unit of work a conflict aborts the whole transaction: nothing to retry.
        record, keyed_from = append() if self.in_unit_of_work else retry_on_conflict(append)
        # a checkpoint only of an entry that is committed (after the unit of work, if any)
        self._after_commit(lambda: self._checkpoint(record, keyed_from))
        return record

    @staticmethod
    def _fields(
        actor: str,
        action: str,
        case_id: str | None,
        query: Mapping[str, Any],
        result: Mapping[str, Any],
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Check an entry's fields; its ``query`` and ``result`` as plain JSON dicts."""
        check_text(actor, "actor", 128)
        check_text(action, "action", 64)
        if case_id is not None:
            check_text(case_id, "case id", 64)
        return json_dict(query, "query"), json_dict(result, "result")

    def _append_in(
        self,
        s: Session,
        actor: str,
        action: str,
        case_id: str | None,
        q: dict[str, Any],
        r: dict[str, Any],
    ) -> tuple[AuditRecord, int]:
        """Append one entry inside the caller's write transaction ``s`` (so a change and
        its audit entry commit together or not at all); the record and the id of the first
        keyed entry. Call :meth:`_checkpoint` after the commit."""
        key = self.key
        if self.dialect == "postgresql":
            # Appends queue here for the rest of their transaction, so the head read next
            # is the newest committed one: without this, appends from several processes
            # (web workers) race for the next id. SQLite writers already hold the
            # database lock (BEGIN IMMEDIATE).
            s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": AUDIT_LOCK_ID})
        head = s.execute(
            select(AuditRow.id, AuditRow.hash).order_by(AuditRow.id.desc()).limit(1)
        ).first()
        new_id, prev = (head[0] + 1, head[1]) if head else (1, GENESIS_HASH)
        keyed_from = self._ensure_switch(s, key, new_id)
        now = utcnow()
        digest = key.entry_hash(prev, audit_entry(new_id, now, actor, action, case_id, q, r))
        row = AuditRow(
            id=new_id,
            timestamp=now,
            actor=actor,
            action=action,
            case_id=case_id,
            query=q,
            result=r,
            prev_hash=prev,
            hash=digest,
        )
        s.add(row)
        s.flush()
        return _convert.audit(row), keyed_from

    def _checkpoint(self, record: AuditRecord, keyed_from: int) -> None:
        """Append the signed checkpoint of a committed entry to the anchor file (a failure
        is logged: the entry stays, ``verify`` reports what no checkpoint covers)."""
        key = self.key
        checkpoint = Checkpoint(
            count=record.id,
            head=record.hash,
            time=utcnow().isoformat(),
            keyed_from=keyed_from,
            instance=self._base.instance_id,
            key_id=key.key_id,
        )
        try:
            self.anchors.append(key, checkpoint)
        except OSError as exc:
            log.error(
                "audit entry %d written, but its checkpoint could not be appended to %s: %s",
                record.id,
                self._base.audit_anchor_path,
                exc,
            )

    def _ensure_switch(self, s: Session, key: AuditKey, new_id: int) -> int:
        """The id of the first keyed entry, recording ``new_id`` as that id (signed) when
        no record exists yet: a new database, or one written by an unkeyed cctrace."""
        row = s.get(StoreMetaRow, SWITCH_KEY)
        if row is not None:
            self._check_switch_key(row.value, key)
            try:
                return int(json.loads(row.value)["keyed_from"])
            except (ValueError, KeyError, TypeError):
                log.error("the keyed-chain record in store_meta is unreadable: %r", row.value)
                return new_id
        if new_id > 1:
            last = s.get(AuditRow, new_id - 1)
            if last is not None and last.hash != audit_hash(last.prev_hash, _content(last)):
                # Keyed entries exist, so the record was deleted: do not re-create it at a
                # later entry (that would pass entries before it off as unkeyed).
                log.error(
                    "the keyed-chain record is missing from store_meta but the audit log is "
                    "keyed; `cctrace audit verify` will report it"
                )
                return new_id
        payload: dict[str, Any] = {
            "keyed_from": new_id,
            "instance": self._base.instance_id,
            "key_id": key.key_id,
        }
        payload["mac"] = key.sign("switch", payload)
        s.add(StoreMetaRow(key=SWITCH_KEY, value=canonical_json(payload)))
        if new_id > 1:
            log.warning(
                "audit log: entries 1..%d use the old unkeyed hash; keyed from entry %d on",
                new_id - 1,
                new_id,
            )
        return new_id

    # ---- reading ---------------------------------------------------------------------

    def entries(
        self,
        case_id: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[AuditRecord]:
        """Audit entries in chain order (optionally of one case / since an instant)."""
        stmt = select(AuditRow).order_by(AuditRow.id)
        if case_id is not None:
            stmt = stmt.where(AuditRow.case_id == case_id)
        if since is not None:
            stmt = stmt.where(AuditRow.timestamp >= require_aware(since, "since"))
        if limit is not None:
            stmt = stmt.limit(int(limit))
        with self._read() as s:
            return [_convert.audit(row) for row in s.scalars(stmt)]

    def head(self) -> tuple[int, str]:
        """(id, hash) of the newest entry ((0, genesis) when empty); every append also
        writes it, signed, to the anchor file."""
        with self._read() as s:
            head = s.execute(
                select(AuditRow.id, AuditRow.hash).order_by(AuditRow.id.desc()).limit(1)
            ).first()
        return (int(head[0]), str(head[1])) if head else (0, GENESIS_HASH)

    def page(
        self, case_id: str | None = None, limit: int = 100, before_id: int | None = None
    ) -> list[AuditRecord]:
        """The newest ``limit`` entries (older than ``before_id``), newest first."""
        stmt = select(AuditRow).order_by(AuditRow.id.desc()).limit(int(limit))
        if case_id is not None:
            stmt = stmt.where(AuditRow.case_id == case_id)
        if before_id is not None:
            stmt = stmt.where(AuditRow.id < int(before_id))
        with self._read() as s:
            return [_convert.audit(row) for row in s.scalars(stmt)]

    # ---- verifying -------------------------------------------------------------------

    def verify_chain(self, batch_size: int = 1000) -> int | None:
        """The first bad entry (see :meth:`verify`), or None when the chain and
        its checkpoints verify."""
        return self.verify(batch_size=batch_size).first_bad

    def verify(self, anchor_path: Path | str | None = None, batch_size: int = 1000) -> AuditReport:
        """Check every entry against the audit key and every checkpoint in the anchor
        file (``anchor_path``, default the store's) against the chain.

        Detects edited entries, rewrites with recomputed hashes (without the key),
        reordered, replayed and deleted entries, a deleted tail and a deleted log.
        """
        key = self.key
        anchors = AnchorLog(Path(anchor_path) if anchor_path else self._base.audit_anchor_path)
        report = AuditReport(
            key_id=key.key_id, key_source=key.source, anchor_path=str(anchors.path)
        )
        read = anchors.read(key, self._base.instance_id)
        report.anchor_exists = read.exists
        report.checkpoints = len(read.checkpoints)
        report.notes.extend(read.notes)
        for problem in read.problems:
            report.bad(None, problem)
        by_count: dict[int, list[Checkpoint]] = {}
        for cp in read.checkpoints:
            by_count.setdefault(cp.count, []).append(cp)
        if read.checkpoints:
            newest = max(read.checkpoints, key=lambda c: (c.count, c.line))
            report.last_anchored, report.last_anchored_time = newest.count, newest.time

        with self._read() as s:
            count = int(s.scalar(select(func.count()).select_from(AuditRow)) or 0)
            max_id = int(s.scalar(select(func.max(AuditRow.id))) or 0)
            switch = s.get(StoreMetaRow, SWITCH_KEY)
            switch_value = switch.value if switch is not None else None
        report.entries = count
        report.keyed_from = self._check_switch(report, key, switch_value, read.checkpoints)

        broken, report.verified, report.verified_hash = self._walk(
            key, report.keyed_from, 0, GENESIS_HASH, batch_size, report, by_count
        )
        if broken is None and count != max_id:  # pragma: no cover - _walk reports gaps
            report.bad(max_id, f"the database holds {count} entries but ids reach {max_id}")
        if report.last_anchored is not None and report.last_anchored > max_id:
            report.bad(
                max_id + 1,
                f"{_span(max_id + 1, report.last_anchored)} missing (deleted): the "
                f"checkpoint of {report.last_anchored_time} anchored {report.last_anchored} "
                f"entries, the database has {max_id}",
            )
        elif report.keyed_from is not None and report.keyed_from > max_id:
            report.bad(
                max_id + 1,
                f"{_span(max_id + 1, report.keyed_from)} missing (deleted): the keyed chain "
                f"started at entry {report.keyed_from}, the database ends at {max_id}",
            )
        if not read.exists and report.keyed_from is not None and max_id >= report.keyed_from:
            report.bad(
                None,
                f"no anchor file at {anchors.path}, though entries {report.keyed_from}.."
                f"{max_id} are keyed and each wrote a checkpoint: the file was removed or "
                "moved, or audit.anchor_path changed (point --anchors at the checkpoints)",
            )
        if report.ok and (report.last_anchored or 0) < max_id:
            first = (report.last_anchored or 0) + 1
            report.notes.append(
                f"entries {first}..{max_id} are not covered by a checkpoint yet (written "
                "before anchoring existed, or a checkpoint write failed): their deletion "
                "would not show"
            )
        if report.legacy_entries:
            report.notes.append(
                f"entries 1..{report.legacy_entries} were written before the chain was keyed "
                "and verify with the old unkeyed hash; they are covered by the keyed entries "
                "after them"
                if report.keyed_from is not None
                else f"entries 1..{report.legacy_entries} were written before the chain was "
                "keyed and verify with the old unkeyed hash; the next entry starts the keyed "
                "chain"
            )
        return report

    def check_anchor_tail(self) -> tuple[int | None, str | None]:
        """A cheap check of the newest checkpoints (the end of the anchor file) against
        the database: (first bad entry, problem), or (None, None) when they match.
        Catches a deleted tail or a replaced newest entry between full checks."""
        key = self.key
        tail = self.anchors.tail(key, self._base.instance_id)
        if not tail:
            return None, None
        newest = max(tail, key=lambda c: c.count)
        with self._read() as s:
            max_id = int(s.scalar(select(func.max(AuditRow.id))) or 0)
            stored = s.scalar(select(AuditRow.hash).where(AuditRow.id == newest.count))
        if newest.count > max_id:
            return max_id + 1, (
                f"{_span(max_id + 1, newest.count)} missing (deleted): the checkpoint "
                f"of {newest.time} anchored {newest.count} entries, the database has {max_id}"
            )
        if stored != newest.head:
            return newest.count, (
                f"entry {newest.count} is not the entry the checkpoint of {newest.time} "
                "anchored: the log was rewritten"
            )
        return None, None

    def _check_switch(
        self,
        report: AuditReport,
        key: AuditKey,
        value: str | None,
        checkpoints: list[Checkpoint],
    ) -> int | None:
        """The first keyed entry's id, from the signed record, cross-checked with the
        checkpoints (which carry it too); problems go to ``report``."""
        anchored = {cp.keyed_from for cp in checkpoints}
        from_anchors = min(anchored) if anchored else None
        if len(anchored) > 1:
            report.bad(
                None,
                f"checkpoints disagree on where the keyed chain starts ({sorted(anchored)})",
            )
        if value is None:
            if from_anchors is not None:
                report.bad(
                    from_anchors,
                    f"the record of the keyed chain's start (store_meta {SWITCH_KEY!r}) was "
                    f"deleted; the checkpoints say entry {from_anchors}",
                )
            return from_anchors
        try:
            data = json.loads(value)
            claimed = int(data["keyed_from"])
        except (ValueError, KeyError, TypeError):
            report.bad(None, f"the record store_meta {SWITCH_KEY!r} is unreadable: {value!r}")
            return from_anchors if from_anchors is not None else 1
        if data.get("key_id") != key.key_id:
            report.bad(
                None,
                f"the keyed chain was started with another audit key (key id "
                f"{data.get('key_id')}, this key {key.key_id}): was the data key changed?",
            )
        elif not key.signed("switch", data) or data.get("instance") != self._base.instance_id:
            report.bad(
                None,
                f"the record of the keyed chain's start (store_meta {SWITCH_KEY!r}) was "
                "altered (bad signature)",
            )
            return from_anchors if from_anchors is not None else 1
        if from_anchors is not None and from_anchors != claimed:
            report.bad(
                None,
                f"the database says the keyed chain starts at entry {claimed}, the "
                f"checkpoints say {from_anchors}",
            )
            return from_anchors
        return claimed

    def verify_from(
        self, after_id: int, after_hash: str, batch_size: int = 1000
    ) -> tuple[int | None, int, str]:
        """Verify the entries after a verified one (``after_id``, ``after_hash``; 0 and
        :data:`GENESIS_HASH` for the whole chain) against the key only (no checkpoints,
        see :meth:`verify`). Returns (first broken id or None, the last verified id,
        its hash), so a caller can carry on from there next time."""
        key = self.key
        with self._read() as s:
            switch = s.get(StoreMetaRow, SWITCH_KEY)
            value = switch.value if switch is not None else None
        scratch = AuditReport()
        keyed_from = self._check_switch(scratch, key, value, [])
        if not scratch.ok:
            return 1, after_id, after_hash
        return self._walk(key, keyed_from, after_id, after_hash, batch_size, None, {})

    def _walk(
        self,
        key: AuditKey,
        keyed_from: int | None,
        after_id: int,
        after_hash: str,
        batch_size: int,
        report: AuditReport | None,
        anchors: Mapping[int, list[Checkpoint]],
    ) -> tuple[int | None, int, str]:
        """Walk the chain after (``after_id``, ``after_hash``); stop at the first bad
        entry. Returns (first bad id or None, last good id, its hash)."""
        expected_id, expected_prev = after_id + 1, after_hash
        last = after_id
        while True:
            with self._read() as s:
                rows = list(
                    s.scalars(
                        select(AuditRow)
                        .where(AuditRow.id > last)
                        .order_by(AuditRow.id)
                        .limit(batch_size)
                    )
                )
                entries = [_convert.audit(r) for r in rows]
            if not entries:
                return None, expected_id - 1, expected_prev
            for e in entries:
                problem = self._entry_problem(key, keyed_from, e, expected_id, expected_prev)
                if problem is None:
                    for cp in anchors.get(e.id, ()):
                        if cp.head != e.hash:
                            problem = (
                                f"entry {e.id} is not the entry the checkpoint of {cp.time} "
                                f"(anchor line {cp.line}) anchored: the log was rewritten at "
                                f"or before entry {e.id}"
                            )
                            break
                if problem is not None:
                    log.warning("audit chain broken at entry %d: %s", e.id, problem)
                    if report is not None:
                        report.bad(e.id, problem)
                    return e.id, expected_id - 1, expected_prev
                expected_id, expected_prev = e.id + 1, e.hash
            last = entries[-1].id

    def _entry_problem(
        self,
        key: AuditKey,
        keyed_from: int | None,
        e: AuditRecord,
        expected_id: int,
        expected_prev: str,
    ) -> str | None:
        """Why entry ``e`` does not verify at this place in the chain, or None."""
        if e.id > expected_id:
            return f"{_span(expected_id, e.id - 1)} missing (deleted) before entry {e.id}"
        if e.id < expected_id:
            return f"entry {e.id} is out of sequence (expected id {expected_id})"
        content = audit_entry(e.id, e.timestamp, e.actor, e.action, e.case_id, e.query, e.result)
        keyed = keyed_from is not None and e.id >= keyed_from
        expected_hash = (
            key.entry_hash(e.prev_hash, content) if keyed else audit_hash(e.prev_hash, content)
        )
        if e.prev_hash != expected_prev:
            return (
                f"entry {e.id} does not follow entry {e.id - 1} (its previous-hash differs): "
                f"entries were reordered, replayed or replaced{self._copy_of(e)}"
            )
        if expected_hash == e.hash:
            return None
        if keyed and audit_hash(e.prev_hash, content) == e.hash:
            return (
                f"entry {e.id} was rewritten with the public unkeyed hash: its content was "
                "changed by someone without the audit key"
            )
        if not keyed and key.entry_hash(e.prev_hash, content) == e.hash:
            return (
                f"entry {e.id} is keyed, but the record of where the keyed chain starts "
                f"(store_meta {SWITCH_KEY!r}) is missing or was moved"
            )
        scheme = "keyed hash" if keyed else "hash (unkeyed, written before keying)"
        return (
            f"entry {e.id} does not match its {scheme}: it was edited, moved, or rewritten "
            f"without the audit key{self._copy_of(e)}"
        )

    def _copy_of(self, e: AuditRecord) -> str:
        """``"; it repeats entry N"`` when another entry has the same hash (a replay)."""
        with self._read() as s:
            other = s.scalar(
                select(AuditRow.id).where(AuditRow.hash == e.hash, AuditRow.id != e.id).limit(1)
            )
        return f"; it repeats entry {other} (replayed)" if other is not None else ""


def _span(first: int, last: int) -> str:
    """``"entry 7 is"`` or ``"entries 7..9 are"``."""
    return f"entry {first} is" if first == last else f"entries {first}..{last} are"


def _content(row: AuditRow) -> dict[str, Any]:
    return audit_entry(
        row.id, row.timestamp, row.actor, row.action, row.case_id, row.query, row.result
    )
