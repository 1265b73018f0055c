"""``cctrace serve --workers N`` as a real child process, for tests: start it on a free
port, wait until every worker answers, sign in over HTTP, and stop it whatever happens."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

import cctrace
from tests.web.web_support import PASSWORD

START_TIMEOUT_S = 90.0
LISTENING = re.compile(r"listening on (http://\S+/)")


@dataclass
class Server:
    """One ``cctrace serve`` process (a uvicorn supervisor and its workers)."""

    proc: subprocess.Popen[str]
    url: str
    output: list[str] = field(default_factory=list)
    """What it printed (read on a thread, so a chatty server never blocks on its pipe)."""

    def workers(self) -> list[int]:
        """Pids of the worker processes (children of the supervisor, no helpers)."""
        out = []
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                text = status.read_text()
                cmdline = (status.parent / "cmdline").read_bytes()
            except OSError:
                continue
            ppid = re.search(r"^PPid:\s+(\d+)", text, re.M)
            if ppid and int(ppid.group(1)) == self.proc.pid and b"resource_tracker" not in cmdline:
                out.append(int(status.parent.name))
        return sorted(out)

    def kill(self) -> None:
        """SIGKILL the supervisor and every worker at once (a crash, no clean-up)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)


@contextmanager
def serve(
    site: Path, key: str, workers: int = 2, env: dict[str, str] | None = None
) -> Iterator[Server]:
    """Start ``cctrace serve --workers N --port 0`` (secret key ``key``, environment
    ``env`` or this process's) and wait until every worker answers."""
    env = {
        **(os.environ if env is None else env),
        "PYTHONPATH": str(Path(cctrace.__file__).parents[1]),
        "CCTRACE_SECRET_KEY": key,
        "CCTRACE_COOKIE_SECURE": "0",
    }
    cmd = [sys.executable, "-m", "cctrace.cli", "serve", "--site", str(site)]
    cmd += ["--port", "0", "--workers", str(workers), "--no-purge"]
    proc = subprocess.Popen(
        cmd,
        cwd=site.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: the test can kill it whole
    )
    server = None
    try:
        assert proc.stdout is not None
        seen = []
        for line in proc.stdout:
            seen.append(line)
            found = LISTENING.search(line)
            if found:
                server = Server(proc, found.group(1), seen)
                break
        assert server is not None, "".join(seen)
        threading.Thread(target=seen.extend, args=(proc.stdout,), daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while len(server.workers()) < workers or not answers(server.url):
            assert proc.poll() is None, f"cctrace serve exited ({proc.returncode}): {seen}"
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.2)
        yield server
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def answers(url: str) -> bool:
    """Whether the server at ``url`` answers its health check."""
    try:
        return httpx.get(url + "healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def sign_in(
    url: str,
    username: str = "ivy",
    password: str = PASSWORD,
    headers: dict[str, str] | None = None,
) -> httpx.Client:
    """An API client signed in as ``username``, its CSRF header set (and ``headers`` on
    every request, such as a proxy's ``X-Forwarded-For``)."""
    client = httpx.Client(base_url=url, timeout=30, headers=headers)
    resp = client.post("/api/auth/login", json={"username": username, "password": password})
    assert resp.status_code == 200, resp.text
    client.headers["X-CSRF-Token"] = resp.json()["csrf_token"]
    return client
