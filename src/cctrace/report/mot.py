"""Tracks in the MOTChallenge text format, for scoring with standard tools.

One box per line, comma-separated, no header::

    frame,id,x,y,w,h,conf,-1,-1,-1

* ``frame`` is **1-based** (MOTChallenge convention): ``write_mot`` adds 1 to
  the 0-based frame indices cctrace uses, ``read_mot`` subtracts it again.
* ``id`` is the track id; ``x, y`` the box's top-left corner and ``w, h`` its
  size, in pixels, written as given (cctrace's 0-based pixel coordinates; no
  +1 shift, like SORT/ByteTrack outputs); ``conf`` the detection confidence.
* The last three fields (3-D position, unused in 2-D tracking) are ``-1``.

Lines are sorted by frame, then id. This is what ``motmetrics``
(``mm.io.loadtxt(path, fmt="mot15-2D")``) and TrackEval read.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable
from pathlib import Path

logger = logging.getLogger(__name__)

MotRow = tuple[int, int, float, float, float, float, float]
"""``(frame_index 0-based, track_id, x, y, w, h, conf)``."""


def _fmt(v: float) -> str:
    """Two decimals at most, trailing zeros dropped: ``10``, ``40.25``, ``0.9``."""
    text = f"{v:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def format_mot(rows: Iterable[MotRow]) -> str:
    """The MOT text for ``rows`` (see the module docstring).

    Raises:
        ValueError: on a negative frame index, a non-positive or non-finite size,
            or a non-finite position or confidence.
    """
    lines: list[tuple[int, int, str]] = []
    for row in rows:
        frame, track, x, y, w, h, conf = row
        if int(frame) != frame or frame < 0:
            raise ValueError(f"frame index must be an integer >= 0; got {frame!r} in {row!r}")
        if not all(math.isfinite(v) for v in (x, y, w, h, conf)):
            raise ValueError(f"box and confidence must be finite; got {row!r}")
        if w <= 0 or h <= 0:
            raise ValueError(f"box width and height must be > 0; got {row!r}")
        text = ",".join(
            [str(int(frame) + 1), str(int(track))]
            + [_fmt(float(v)) for v in (x, y, w, h, conf)]
            + ["-1", "-1", "-1"]
        )
        lines.append((int(frame), int(track), text))
    lines.sort(key=lambda t: (t[0], t[1]))
    return "".join(t[2] + "\n" for t in lines)


def write_mot(rows: Iterable[MotRow], path: str | os.PathLike[str]) -> Path:
    """Write ``rows`` (0-based frames) as a MOTChallenge file with 1-based frames."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = format_mot(rows)
    out.write_text(text, encoding="ascii")
    logger.info("wrote %d MOT rows to %s", text.count("\n"), out)
    return out


def read_mot(path: str | os.PathLike[str]) -> list[MotRow]:
    """Rows of a MOTChallenge file, with frames back to 0-based indices.

    Accepts files with 6 or more fields per line (ground-truth files carry other
    trailing columns); a missing confidence reads as 1.0. Blank lines are skipped.

    Raises:
        ValueError: on a malformed line (the message names the line number).
    """
    rows: list[MotRow] = []
    with open(path, encoding="ascii") as fh:
        for n, line in enumerate(fh, start=1):
            text = line.strip()
            if not text:
                continue
            parts = text.split(",")
            try:
                if len(parts) < 6:
                    raise ValueError(f"expected >= 6 fields, found {len(parts)}")
                frame = int(float(parts[0])) - 1
                track = int(float(parts[1]))
                x, y, w, h = (float(p) for p in parts[2:6])
                conf = float(parts[6]) if len(parts) > 6 else 1.0
            except ValueError as exc:
                raise ValueError(f"{path}:{n}: malformed MOT line {text!r}: {exc}") from exc
            rows.append((frame, track, x, y, w, h, conf))
    return rows
