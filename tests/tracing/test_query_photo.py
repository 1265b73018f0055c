"""Query photos: hostile headers are clear errors, never a traceback or a huge allocation."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from cctrace.errors import PhotoError
from cctrace.tracing.query import read_photo


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` pixels but holds almost no data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("width", "height"),
    [(50_000, 50_000), (20_000, 20_000), (8_000, 6_000)],  # bomb, > 2x Pillow's limit, > 40 MP
)
def test_a_header_claiming_a_huge_image_is_refused(tmp_path: Path, width: int, height: int) -> None:
    photo = tmp_path / "case.png"
    photo.write_bytes(_png_header(width, height))
    with pytest.raises(PhotoError, match="too large"):
        read_photo(photo)


def test_a_small_broken_png_is_not_an_image(tmp_path: Path) -> None:
    photo = tmp_path / "case.png"
    photo.write_bytes(_png_header(64, 64))
    with pytest.raises(PhotoError, match="not a readable image"):
        read_photo(photo)
