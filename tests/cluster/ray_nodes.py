"""A Ray head and a second Ray node started on this machine (``ray start``), each in its
own temp dir with its own ports, and torn down by killing exactly what they started."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.cluster.ray_sites import free_port


def processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        out[int(entry.name)] = (int(stat[stat.rfind(")") + 2 :].split()[1]), cmd)
    return out


def descends(pid: int, root: int, procs: dict[int, tuple[int, str]]) -> bool:
    """Whether ``pid`` is ``root`` or one of its descendants."""
    while pid > 1 and pid in procs:
        if pid == root:
            return True
        pid = procs[pid][0]
    return False


def kill_ray_started_in(dirs: list[str]) -> None:
    """SIGKILL every process whose command line names one of our Ray temp dirs, and
    their children (never `ray stop`: it would stop other users' Ray on this machine)."""
    procs = processes()
    roots = {p for p, (_, cmd) in procs.items() if p != os.getpid() and any(d in cmd for d in dirs)}
    doomed = {p for p in procs if any(descends(p, r, procs) for r in roots)}
    for pid in doomed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@dataclass(frozen=True)
class Cluster:
    """A running two-node cluster: the head's address, the environment its nodes were
    started with (use it for the driver too), and each node's temp dir."""

    address: str
    env: dict[str, str]
    worker_dir: str
    head_dir: str = ""

    def node_of(self, pid: int) -> str | None:
        """``head`` or ``worker``: the node whose Ray worker process ``pid`` was (found by
        the worker's log file, so it works after the process is gone); None if neither."""
        for name, folder in (("head", self.head_dir), ("worker", self.worker_dir)):
            if folder and list(Path(folder).glob(f"session_*/logs/python-core-worker-*_{pid}.log")):
                return name
        return None


@contextlib.contextmanager
def two_node_cluster(env: dict[str, str], cpus_per_node: int = 1) -> Iterator[Cluster]:
    """``ray start --head`` and ``ray start --address`` on 127.0.0.1 with ``env`` (plus a
    random cluster auth token), ``cpus_per_node`` CPUs each; everything they started is
    killed and their temp dirs removed on exit, whatever happened."""
    ray_bin = Path(sys.executable).with_name("ray")
    env = {**env, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": os.urandom(32).hex()}
    head_dir = tempfile.mkdtemp(prefix="cctr-rh-", dir="/tmp")
    worker_dir = tempfile.mkdtemp(prefix="cctr-rw-", dir="/tmp")
    port = free_port()
    common = ["--node-ip-address=127.0.0.1", f"--num-cpus={cpus_per_node}", "--disable-usage-stats"]

    def ports() -> list[str]:
        return [
            f"--dashboard-agent-listen-port={free_port()}",
            f"--runtime-env-agent-port={free_port()}",
            f"--metrics-export-port={free_port()}",
        ]

    try:
        head = [
            str(ray_bin),
            "start",
            "--head",
            f"--port={port}",
            f"--temp-dir={head_dir}",
            "--include-dashboard=false",
            f"--dashboard-port={free_port()}",
        ]
        subprocess.run([*head, *common, *ports()], env=env, check=True, capture_output=True)
        worker = [str(ray_bin), "start", f"--address=127.0.0.1:{port}", f"--temp-dir={worker_dir}"]
        subprocess.run([*worker, *common, *ports()], env=env, check=True, capture_output=True)
        yield Cluster(f"127.0.0.1:{port}", env, worker_dir, head_dir)
    finally:
        kill_ray_started_in([head_dir, worker_dir])
        for folder in (head_dir, worker_dir):
            shutil.rmtree(folder, ignore_errors=True)
