"""Camera jobs for the supervisor tests (top level, so spawned workers can import them)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any


def finish(camera_id: str, events: Any) -> list[tuple[str, str, int]]:
    """Report progress and finish."""
    events.put(("total", camera_id, 1.0))
    events.put(("at", camera_id, 1.0))
    return [("done", camera_id, os.getpid())]


def killed_first_time(marks: str, dies: str, camera_id: str, events: Any) -> list[Any]:
    """Camera ``dies`` is killed (SIGKILL, as by the OOM killer) on its first attempt."""
    mark = Path(marks) / f"{camera_id}.tried"
    if camera_id == dies and not mark.exists():
        mark.write_text("1")
        os.kill(os.getpid(), signal.SIGKILL)
    if camera_id != dies:
        time.sleep(0.5)  # still running while the other worker dies
    return finish(camera_id, events)


def always_killed(dies: str, camera_id: str, events: Any) -> list[Any]:
    """Camera ``dies`` is killed on every attempt; the others finish."""
    if camera_id == dies:
        os.kill(os.getpid(), signal.SIGKILL)
    return finish(camera_id, events)


def run_forever(pids: str, camera_id: str, events: Any) -> list[Any]:
    """Write this worker's pid, then work forever (until killed)."""
    (Path(pids) / f"{camera_id}.pid").write_text(str(os.getpid()))
    while True:
        events.put(("at", camera_id, 0.0))
        time.sleep(0.1)
