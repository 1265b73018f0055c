"""Store fixtures: a SQLite store in tmp_path, and the same against a real PostgreSQL
server that the session starts itself (initdb + postgres on a temp dir, free port)."""

from __future__ import annotations

import glob
import itertools
import logging
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cctrace.store import Store

log = logging.getLogger(__name__)

PG_START_TIMEOUT_S = 60


def _pg_bindir() -> Path | None:
    """A folder holding initdb and postgres: $PATH first, then Debian's layout."""
    found = shutil.which("initdb")
    candidates = [Path(found).resolve().parent] if found else []
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for d in candidates:
        if (d / "initdb").is_file() and (d / "postgres").is_file():
            return d
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    """A throwaway PostgreSQL server; ``new_database()`` gives each test a clean DB."""

    port: int
    user: str
    _counter: Any = None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        import psycopg

        if self._counter is None:
            self._counter = itertools.count(1)
        name = f"cctrace_test_{os.getpid()}_{next(self._counter)}"
        conninfo = f"host=127.0.0.1 port={self.port} user={self.user} dbname=postgres"
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _run_as() -> dict[str, Any]:
    """subprocess kwargs that drop root (postgres refuses to run as root)."""
    if os.geteuid() != 0:
        return {}
    try:
        pw = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("running as root and no 'nobody' user to run postgres as")
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """Start PostgreSQL for the session, or skip with the reason."""
    try:
        import psycopg
    except ImportError:
        pytest.skip("psycopg is not installed (pip install 'psycopg[binary]')")
    bindir = _pg_bindir()
    if bindir is None:
        pytest.skip(
            "PostgreSQL binaries (initdb, postgres) not found on PATH or in "
            "/usr/lib/postgresql/*/bin"
        )
    run_as = _run_as()
    # As root, use /tmp itself: $TMPDIR may sit in a folder 'nobody' cannot enter.
    base = "/tmp" if run_as and os.path.isdir("/tmp") else None
    root = Path(tempfile.mkdtemp(prefix="cctrace-pg-", dir=base))
    if run_as:
        os.chown(root, run_as["user"], run_as["group"])
    data, logfile = root / "data", root / "postgres.log"
    env = {"PATH": f"{bindir}:/usr/bin:/bin", "LC_ALL": "C", "LANG": "C", "HOME": str(root)}
    user = "cctrace"
    proc: subprocess.Popen[bytes] | None = None
    try:
        init = subprocess.run(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                user,
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            cwd=root,
            env=env,
            capture_output=True,
            timeout=180,
            check=False,
            **run_as,
        )
        if init.returncode != 0:
            pytest.skip(f"initdb failed ({init.returncode}): {init.stderr.decode()[-500:]}")
        port = _free_port()
        with open(logfile, "wb") as out:
            proc = subprocess.Popen(
                [
                    str(bindir / "postgres"),
                    "-D",
                    str(data),
                    "-p",
                    str(port),
                    "-k",
                    str(root),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                ],
                cwd=root,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                **run_as,
            )
        conninfo = f"host=127.0.0.1 port={port} user={user} dbname=postgres connect_timeout=2"
        deadline = time.monotonic() + PG_START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.skip(f"postgres exited ({proc.returncode}): {logfile.read_text()[-500:]}")
            try:
                psycopg.connect(conninfo).close()
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    pytest.skip(
                        f"postgres did not accept connections in {PG_START_TIMEOUT_S} s:"
                        f" {logfile.read_text()[-500:]}"
                    )
                time.sleep(0.2)
        yield PgServer(port=port, user=user)
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # fast shutdown
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh store on each backend."""
    if request.param == "sqlite":
        s = Store(tmp_path / "data")
    else:
        server: PgServer = request.getfixturevalue("pg_server")
        s = Store(tmp_path / "data", url=server.new_database())
    with s:
        yield s


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    """A fresh SQLite store (for tests that need no second backend)."""
    with Store(tmp_path / "data") as s:
        yield s
