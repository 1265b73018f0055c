"""A camera job whose module notes, when it is imported, whether the worker already
watches its parent (imported by a spawned worker only when it unpickles its job)."""

from __future__ import annotations

import threading
from typing import Any

WATCHING_AT_IMPORT = any(t.name == "parent-watchdog" for t in threading.enumerate())
"""True when the worker set up "die with my parent" before importing the job's modules."""


def report_import_order(camera_id: str, events: Any) -> list[tuple[str, bool]]:
    """The camera and :data:`WATCHING_AT_IMPORT`."""
    return [(camera_id, WATCHING_AT_IMPORT)]
