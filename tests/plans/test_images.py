"""Checking uploaded plan files: sizes, bombs, wrong types, hostile SVG."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from cctrace.plans.images import MAX_PLAN_BYTES, PlanImageError, read_plan_image, sanitize_svg


def _png(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def test_png_and_jpeg_are_re_encoded_as_plain_png() -> None:
    img = Image.new("RGBA", (120, 80), (255, 0, 0, 0))
    img.paste((0, 0, 255, 255), (0, 0, 60, 80))
    plan = read_plan_image(_png(img))
    assert (plan.width, plan.height, plan.source_format) == (120, 80, "png")
    decoded = Image.open(io.BytesIO(plan.png))
    assert decoded.format == "PNG" and decoded.mode == "RGB"
    assert decoded.getpixel((10, 10)) == (0, 0, 255)
    assert decoded.getpixel((100, 10)) == (255, 255, 255)  # transparency -> white
    jpeg = io.BytesIO()
    Image.new("RGB", (64, 48), (20, 200, 20)).save(jpeg, format="JPEG")
    assert read_plan_image(jpeg.getvalue()).source_format == "jpeg"


def test_a_decompression_bomb_is_refused_before_decoding() -> None:
    bomb = io.BytesIO()
    Image.new("1", (9000, 9000), 0).save(bomb, format="PNG")  # 81 Mpx in a few kB
    assert len(bomb.getvalue()) < 100_000
    with pytest.raises(PlanImageError, match="9000 x 9000 pixels"):
        read_plan_image(bomb.getvalue())
    # a header claiming 50000 x 50000 with almost no data behind it
    ihdr = struct.pack(">IIBBBBB", 50_000, 50_000, 8, 2, 0, 0, 0)
    forged = (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(b"\0" * 1000))
        + _chunk(b"IEND", b"")
    )
    with pytest.raises(PlanImageError, match="pixels"):
        read_plan_image(forged)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "empty"),
        (b"GIF89a" + b"\0" * 100, "PNG, JPEG or SVG"),
        (b"%PDF-1.7\n" + b"\0" * 100, "PNG, JPEG or SVG"),
        (b"just some text", "PNG, JPEG or SVG"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "damaged"),
        (b"\0" * (MAX_PLAN_BYTES + 1), "MB"),
    ],
)
def test_wrong_or_damaged_files_are_refused(data: bytes, words: str) -> None:
    with pytest.raises(PlanImageError, match=words):
        read_plan_image(data)


def test_a_tiny_picture_is_refused() -> None:
    with pytest.raises(PlanImageError, match="at least 32"):
        read_plan_image(_png(Image.new("RGB", (10, 400))))


SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
    'width="200" height="100">{}</svg>'
)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("<script>alert(1)</script>", "<script>"),
        ('<rect width="10" height="10" onload="alert(1)"/>', "event handler"),
        ('<image href="http://evil.example/x.png" width="10" height="10"/>', "<image>"),
        ('<use xlink:href="http://evil.example/a.svg#x"/>', "outside itself"),
        (
            '<rect width="10" height="10" style="fill:url(http://evil.example/p)"/>',
            "outside itself",
        ),
        ("<style>@import url(http://evil.example/a.css);</style>", "imports"),
        (
            '<foreignObject><p xmlns="http://www.w3.org/1999/xhtml">hi</p></foreignObject>',
            "foreignObject",
        ),
        (
            '<g id="a"><rect width="1" height="1"/></g>'
            '<g id="b"><use href="#a"/><use href="#a"/></g>'
            '<g id="c"><use href="#b"/><use href="#b"/></g>',
            "nests",
        ),
    ],
)
def test_hostile_svg_is_refused(body: str, words: str) -> None:
    with pytest.raises(PlanImageError, match=words):
        read_plan_image(SVG.format(body).encode())


def test_svg_entities_and_dtds_are_refused() -> None:
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><text>&b;</text></svg>'
    )
    with pytest.raises(PlanImageError, match="DTD"):
        sanitize_svg(laughs.encode())
    xxe = (
        '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        '<svg xmlns="http://www.w3.org/2000/svg"><text>&x;</text></svg>'
    )
    with pytest.raises(PlanImageError, match="DTD"):
        read_plan_image(xxe.encode())


def test_a_plain_svg_is_rasterised() -> None:
    try:
        import cairosvg  # noqa: F401
    except (ImportError, OSError) as exc:  # OSError: the Cairo library itself is missing
        pytest.skip(f"CairoSVG cannot run here: {exc}")
    body = (
        '<rect width="100" height="100" fill="#0000ff"/>'
        '<rect x="100" width="100" height="100" fill="#ff0000"/>'
    )
    plan = read_plan_image(SVG.format(body).encode())
    assert plan.source_format == "svg"
    assert (plan.width, plan.height) == (2000, 1000)
    img = Image.open(io.BytesIO(plan.png))
    assert img.getpixel((500, 500)) == (0, 0, 255)
    assert img.getpixel((1500, 500)) == (255, 0, 0)
