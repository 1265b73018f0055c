"""``--json`` output of the command line: one JSON document on stdout and nothing else.

Tables, notes and progress bars are for people; scripts pass ``--json`` and read one
document from stdout (warnings and errors still go to stderr, the exit status is the
same). Times are ISO 8601 in UTC, paths are strings, enums their values, and a
non-finite float is ``null`` (JSON has no NaN).
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from pathlib import PurePath
from typing import Annotated, Any

import typer

JsonOption = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print the results as one JSON document on stdout (nothing else there; "
        "warnings and errors go to stderr).",
    ),
]


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types: dataclasses as objects, datetimes as ISO text,
    paths as strings, enums as their values, NaN and infinities as None."""
    if isinstance(value, Enum):
        return jsonable(value.value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str | int | bool):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, bytes):
        return None  # never binary state (checkpoints, vectors) in CLI output
    if hasattr(value, "item"):  # numpy scalars
        return jsonable(value.item())
    return str(value)


def print_json(value: Any) -> None:
    """Write ``value`` as one indented JSON document (and a newline) to stdout."""
    sys.stdout.write(json.dumps(jsonable(value), indent=2, ensure_ascii=False, allow_nan=False))
    sys.stdout.write("\n")
    sys.stdout.flush()
