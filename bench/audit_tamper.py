"""Can a database writer rewrite the audit log unseen? A tamper corpus against verify.

One command: ``python bench/audit_tamper.py`` (``--instances 8`` per kind, ``--entries
60``, ``--seed 0``); prints a markdown table and writes ``bench/results/audit_tamper.md``.

It builds a real store (SQLite, the project's :class:`~cctrace.store.Store`) with a
keyed audit log and its anchor file, then, on a fresh copy for every instance, plays an
attacker who can read and write the database file (with :mod:`sqlite3`, outside
cctrace) and knows cctrace's code, but not the data key, and cannot write the anchor
file. Kinds:

- **edit**: change one field (actor, action, case, query, result, time) of one entry;
- **rewrite with recomputed hashes**: edit an entry, then recompute it and every later
  hash, with the public unkeyed hash (what passed before) or an HMAC under a guessed key;
- **downgrade**: rewrite the whole log with the old unkeyed hash and delete the record
  of where the keyed chain starts (so it looks like a database from before keying);
- **delete tail**: delete the newest 1..10 entries;
- **delete all**: empty the log (half the time the ``store_meta`` record too);
- **delete middle**: delete one entry that is not the newest;
- **reorder**: swap two entries (their ids, relinking the previous-hashes);
- **replay**: insert a copy of an existing entry, at the end or in place of another;
- **delete tail, then new entries**: delete the newest entries and let cctrace append
  new ones (a fork the chain alone cannot see);
- **none (control)**: no tampering; counted as detected if verify *fails* (false alarm).

Then ``Store.audit.verify()`` (what ``cctrace audit verify`` runs) judges each copy.
Exit status 1 unless every tamper is detected and no control is flagged.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from cctrace.privacy.crypto import DataCipher  # noqa: E402
from cctrace.store import Store  # noqa: E402
from cctrace.store.audit_chain import (  # noqa: E402
    GENESIS_HASH,
    AuditKey,
    audit_entry,
    audit_hash,
    canonical_json,
)
from cctrace.store.records import AuditRecord  # noqa: E402

RESULTS = ROOT / "bench" / "results"
Tamper = Callable[["Attack"], None]


@dataclass
class Attack:
    """One fresh copy of the site and an attacker's handle on its database file."""

    data: Path
    cipher: DataCipher
    rng: random.Random
    entries: list[AuditRecord]

    def db(self) -> sqlite3.Connection:
        """A raw connection to the database file (no cctrace code involved)."""
        return sqlite3.connect(self.data / "cctrace.db", isolation_level=None)

    @property
    def n(self) -> int:
        """How many entries the log had before tampering."""
        return len(self.entries)


def _store(data: Path, cipher: DataCipher) -> Store:
    return Store(data, cipher=cipher)


def build(data: Path, cipher: DataCipher, n: int, rng: random.Random) -> None:
    """A site whose audit log has ``n`` entries written over two sessions."""
    actions = ["sign_in", "case_open", "trace", "view_case", "snapshot", "export", "audit_read"]
    for session in range(2):
        with _store(data, cipher) as store:
            for i in range(n // 2 if session == 0 else n - n // 2):
                store.audit.append(
                    rng.choice(["ivy", "sue", "aud", "adm"]),
                    rng.choice(actions),
                    rng.choice([None, "C-2026-0193", "C-2026-0201"]),
                    {"legal_basis": "IDCPA Art. 76-2", "i": i, "window": ["2026-03-15", "2d"]},
                    {"hits": rng.randint(0, 50)},
                )


# ---- the attacker's tools (raw SQL on the file) ----------------------------------------


def _park_and_relink(c: sqlite3.Connection, ids: list[int], first_prev: str) -> None:
    """Set each row's prev_hash to the hash of the row before it (prev_hash is unique, so
    the rows were parked on temporary values first)."""
    prev = first_prev
    for i in ids:
        c.execute("UPDATE audit_log SET prev_hash = ? WHERE id = ?", (prev, i))
        prev = c.execute("SELECT hash FROM audit_log WHERE id = ?", (i,)).fetchone()[0]


def _edit_value(a: Attack, e: AuditRecord) -> tuple[str, Any]:
    column = a.rng.choice(["actor", "action", "case_id", "query", "result", "timestamp"])
    value: Any = {
        "actor": "mallory",
        "action": "view_case",
        "case_id": "C-OTHER" if e.case_id is None else None,
        "query": canonical_json({**e.query, "legal_basis": "none"}),
        "result": canonical_json({"hits": 0}),
        "timestamp": (e.timestamp - timedelta(hours=3)).strftime("%Y-%m-%d %H:%M:%S.%f"),
    }[column]
    return column, value


def edit(a: Attack) -> None:
    """Change one field of one entry."""
    e = a.rng.choice(a.entries)
    column, value = _edit_value(a, e)
    with a.db() as c:
        c.execute(f"UPDATE audit_log SET {column} = ? WHERE id = ?", (value, e.id))


def _rewrite(
    a: Attack, hasher: Callable[[str, dict[str, Any]], str], first: int | None = None
) -> None:
    """Edit one entry, then recompute its hash and every later one with ``hasher``."""
    first = first or a.rng.randrange(1, a.n + 1)
    prev = a.entries[first - 2].hash if first > 1 else GENESIS_HASH
    ids = [e.id for e in a.entries[first - 1 :]]
    with a.db() as c:
        for e in a.entries[first - 1 :]:
            actor = "mallory" if e.id == first else e.actor
            content = audit_entry(e.id, e.timestamp, actor, e.action, e.case_id, e.query, e.result)
            digest = hasher(prev, content)
            c.execute(
                "UPDATE audit_log SET actor = ?, hash = ?, prev_hash = ? WHERE id = ?",
                (actor, digest, f"parked-{e.id}", e.id),
            )
            prev = digest
        _park_and_relink(c, ids, a.entries[first - 2].hash if first > 1 else GENESIS_HASH)


def rewrite_public(a: Attack) -> None:
    """Edit an entry and recompute the chain from it with cctrace's old public hash."""
    _rewrite(a, audit_hash)


def rewrite_guessed_key(a: Attack) -> None:
    """Edit an entry and recompute the chain from it as HMACs under a guessed key."""
    _rewrite(a, AuditKey(os.urandom(32), "guess").entry_hash)


def downgrade(a: Attack) -> None:
    """Rewrite the whole log as an old unkeyed chain (an edit included) and delete the
    record of where the keyed chain starts, so it looks like a pre-upgrade database."""
    _rewrite(a, audit_hash, first=1)
    with a.db() as c:
        c.execute("DELETE FROM store_meta WHERE key = 'audit_keyed_from'")


def delete_tail(a: Attack) -> None:
    """Delete the newest 1..10 entries."""
    k = a.rng.randint(1, 10)
    with a.db() as c:
        c.execute("DELETE FROM audit_log WHERE id > ?", (a.n - k,))


def delete_all(a: Attack) -> None:
    """Empty the log (sometimes the keyed-chain record as well)."""
    with a.db() as c:
        c.execute("DELETE FROM audit_log")
        if a.rng.random() < 0.5:
            c.execute("DELETE FROM store_meta WHERE key = 'audit_keyed_from'")


def delete_middle(a: Attack) -> None:
    """Delete one entry that is not the newest."""
    victim = a.rng.randrange(1, a.n)
    with a.db() as c:
        c.execute("DELETE FROM audit_log WHERE id = ?", (victim,))


def reorder(a: Attack) -> None:
    """Swap two entries' ids and relink the chain."""
    x, y = sorted(a.rng.sample(range(1, a.n + 1), 2))
    with a.db() as c:
        for i in range(1, a.n + 1):
            c.execute("UPDATE audit_log SET prev_hash = ? WHERE id = ?", (f"parked-{i}", i))
        c.execute("UPDATE audit_log SET id = -1 WHERE id = ?", (x,))
        c.execute("UPDATE audit_log SET id = ? WHERE id = ?", (x, y))
        c.execute("UPDATE audit_log SET id = ? WHERE id = -1", (y,))
        _park_and_relink(c, list(range(1, a.n + 1)), GENESIS_HASH)


def replay(a: Attack) -> None:
    """Insert a copy of an entry: after the newest, or in place of a deleted one."""
    src = a.rng.choice(a.entries)
    cols = "timestamp, actor, action, case_id, query, result, hash"
    with a.db() as c:
        row = c.execute(f"SELECT {cols} FROM audit_log WHERE id = ?", (src.id,)).fetchone()
        if a.rng.random() < 0.5:
            at, prev = a.n + 1, a.entries[-1].hash
        else:
            at = a.rng.choice([e.id for e in a.entries if e.id != src.id])
            prev = a.entries[at - 2].hash if at > 1 else GENESIS_HASH
            c.execute("DELETE FROM audit_log WHERE id = ?", (at,))
        c.execute(
            f"INSERT INTO audit_log (id, prev_hash, {cols}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (at, prev, *row),
        )


def delete_tail_then_append(a: Attack) -> None:
    """Delete the newest entries, then let cctrace append new ones on the shorter chain."""
    k = a.rng.randint(1, 10)
    with a.db() as c:
        c.execute("DELETE FROM audit_log WHERE id > ?", (a.n - k,))
    with _store(a.data, a.cipher) as store:
        for _ in range(a.rng.randint(1, k)):
            store.audit.append("ivy", "view_case", "C-2026-0193", {"via": "page"}, {})


def control(a: Attack) -> None:
    """No tampering (a normal reopen and one more entry)."""
    with _store(a.data, a.cipher) as store:
        store.audit.append("aud", "audit_read", None, {}, {})


KINDS: list[tuple[str, Tamper]] = [
    ("edit", edit),
    ("rewrite with recomputed hashes (public sha256)", rewrite_public),
    ("rewrite with recomputed hashes (HMAC, guessed key)", rewrite_guessed_key),
    ("rewrite all as unkeyed, drop the keyed-chain record", downgrade),
    ("delete tail", delete_tail),
    ("delete all", delete_all),
    ("reorder", reorder),
    ("replay (duplicate entry)", replay),
    ("delete middle", delete_middle),
    ("delete tail, then new entries", delete_tail_then_append),
]


@dataclass
class Row:
    """Results for one kind."""

    kind: str
    tried: int = 0
    detected: int = 0
    example: str = ""
    missed: list[str] = field(default_factory=list)


def run(instances: int, entries: int, seed: int, work: Path) -> tuple[list[Row], Row, float]:
    """Every kind ``instances`` times on fresh copies; returns the rows, the control row
    and the seconds a full verify took on the base site."""
    rng = random.Random(seed)
    cipher = DataCipher(random.Random(seed).randbytes(32), source="benchmark key")
    base = work / "base"
    build(base, cipher, entries, rng)
    with _store(base, cipher) as store:
        baseline = store.audit.verify()
        records = store.audit.entries()
        t0 = time.perf_counter()
        store.audit.verify()
        verify_s = time.perf_counter() - t0
    if not baseline.ok:
        raise SystemExit(f"the untampered site does not verify: {baseline.problems}")
    rows = []
    control_row = Row("none (control; detected = false alarm)")
    for kind, tamper in [*KINDS, ("control", control)]:
        row = control_row if tamper is control else Row(kind)
        for i in range(instances):
            data = work / f"{tamper.__name__}-{i}"
            shutil.copytree(base, data)
            tamper(Attack(data, cipher, random.Random(rng.random()), records))
            with _store(data, cipher) as store:
                report = store.audit.verify()
            row.tried += 1
            if not report.ok:
                row.detected += 1
                row.example = row.example or report.problems[0]
            elif tamper is not control:
                row.missed.append(f"instance {i}")
            shutil.rmtree(data)
        if tamper is not control:
            rows.append(row)
    return rows, control_row, verify_s


def markdown(rows: list[Row], control_row: Row, args: argparse.Namespace, verify_s: float) -> str:
    """The results table and how it was made."""
    tried = sum(r.tried for r in rows)
    detected = sum(r.detected for r in rows)
    lines = [
        "# Audit log tamper corpus",
        "",
        f"`python bench/audit_tamper.py --instances {args.instances} --entries "
        f"{args.entries} --seed {args.seed}`: a real SQLite store with a {args.entries}-entry "
        "keyed audit log and its anchor file; each instance tampers with a fresh copy of "
        "the database file through raw SQL (no data key, no write access to the anchor "
        "file), then `Store.audit.verify()` (= `cctrace audit verify`) judges it.",
        "",
        "| tamper kind | tried | detected | first problem reported (one example) |",
        "|---|---:|---:|---|",
    ]
    for r in [*rows, control_row]:
        example = r.example.replace("|", "\\|")
        if len(example) > 160:
            example = example[:157] + "..."
        lines.append(f"| {r.kind} | {r.tried} | {r.detected} | {example} |")
    lines += [
        "",
        f"**Detected: {detected}/{tried} ({100 * detected / max(tried, 1):.0f}%)**; "
        f"false alarms on untampered copies: {control_row.detected}/{control_row.tried}. "
        f"A full verify of the {args.entries}-entry log took {verify_s * 1000:.0f} ms.",
    ]
    missed = [f"{r.kind}: {', '.join(r.missed)}" for r in rows if r.missed]
    if missed:
        lines += ["", "Missed: " + "; ".join(missed)]
    return "\n".join(lines) + "\n"


def main() -> int:
    """Run the corpus, print and save the table; 1 unless all detected and no false alarm."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=8, help="tries per kind")
    parser.add_argument("--entries", type=int, default=60, help="audit entries in the site")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # verify logs each break it finds; the table says it
    logging.getLogger("cctrace").setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory(prefix="cctrace-audit-tamper-") as tmp:
        rows, control_row, verify_s = run(args.instances, args.entries, args.seed, Path(tmp))
    text = markdown(rows, control_row, args, verify_s)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "audit_tamper.md").write_text(text)
    all_caught = all(r.detected == r.tried for r in rows)
    return 0 if all_caught and control_row.detected == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
