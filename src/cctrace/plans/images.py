"""Checking a site-plan file (PNG, JPEG or SVG) and turning it into a plain PNG.

Whatever arrives, what is kept is a PNG this module re-encoded (no metadata, no
animation, alpha flattened onto white). Limits: :data:`MAX_PLAN_BYTES` for the file and
:data:`MAX_PLAN_PIXELS` for the picture, checked from the header before any pixel is
decoded (a decompression bomb is refused, not decoded). An SVG is parsed with
defusedxml (no DTD, no entities), must not run scripts or reach anything outside
itself (no external or embedded images, no ``url()`` but ``#id``, no nested ``<use>``),
and is rasterised by CairoSVG in its safe mode (no external files, no entities), its
longest side :data:`SVG_LONG_SIDE` pixels.
"""

from __future__ import annotations

import hashlib
import io
import re
import warnings
from dataclasses import dataclass
from typing import Any

from PIL import Image, UnidentifiedImageError

from cctrace.errors import CctraceError
from cctrace.i18n import gettext

MAX_PLAN_BYTES = 20 * 1024 * 1024
MAX_PLAN_PIXELS = 40_000_000
"""About 8000 x 5000 pixels."""
MAX_SIDE = 16_000
MIN_SIDE = 32
SVG_LONG_SIDE = 2000
MAX_SVG_ELEMENTS = 50_000
MAX_SVG_USES = 500
SVG_NS = "{http://www.w3.org/2000/svg}"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
FORBIDDEN_SVG = {
    "script",
    "foreignObject",
    "iframe",
    "object",
    "embed",
    "image",
    "feImage",
    "animate",
    "animateMotion",
    "animateTransform",
    "set",
    "handler",
    "listener",
    "a",
}
_URL = re.compile(r"url\(\s*['\"]?\s*([^)'\"\s]*)", re.IGNORECASE)


class PlanImageError(CctraceError, ValueError):
    """A site-plan file that is refused; the message says why in the reader's words."""


@dataclass(frozen=True)
class PlanImage:
    """A checked plan picture, re-encoded as PNG."""

    png: bytes
    width: int
    height: int
    source_format: str
    """``png``, ``jpeg`` or ``svg``: what was uploaded."""

    @property
    def sha256(self) -> str:
        """Hex sha256 of :attr:`png`."""
        return hashlib.sha256(self.png).hexdigest()


def _too_big(n: int) -> PlanImageError:
    return PlanImageError(
        gettext("the plan file is {got} MB; the largest accepted is {limit} MB").format(
            got=f"{n / 1024 / 1024:.1f}", limit=f"{MAX_PLAN_BYTES / 1024 / 1024:.0f}"
        )
    )


def _check_size(width: int, height: int) -> None:
    if width * height > MAX_PLAN_PIXELS or max(width, height) > MAX_SIDE:
        raise PlanImageError(
            gettext(
                "the plan is {w} x {h} pixels; the largest accepted is {mp} million pixels "
                "and {side} pixels on a side"
            ).format(w=width, h=height, mp=MAX_PLAN_PIXELS // 1_000_000, side=MAX_SIDE)
        )
    if min(width, height) < MIN_SIDE:
        raise PlanImageError(
            gettext("the plan is {w} x {h} pixels; it needs at least {n} on a side").format(
                w=width, h=height, n=MIN_SIDE
            )
        )


def _flatten(img: Image.Image) -> Image.Image:
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")


def _encode(img: Image.Image, source_format: str) -> PlanImage:
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=False)
    return PlanImage(out.getvalue(), img.width, img.height, source_format)


def _raster(data: bytes) -> PlanImage:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=("PNG", "JPEG"))
            _check_size(*img.size)
            if getattr(img, "n_frames", 1) > 1:
                raise PlanImageError(gettext("animated images are not accepted as a plan"))
            fmt = (img.format or "").lower()
            img.load()
    except PlanImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise PlanImageError(
            gettext("the plan is too many pixels to decode safely (a decompression bomb?)")
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise PlanImageError(
            gettext("the plan file is damaged or not a PNG/JPEG picture: {error}").format(
                error=str(exc)[:200]
            )
        ) from None
    return _encode(_flatten(img), fmt)


def _local(tag: Any) -> str:
    text = str(tag)
    return text.rsplit("}", 1)[-1] if "}" in text else text


def _refuse_svg(reason: str) -> PlanImageError:
    return PlanImageError(gettext("the SVG plan is refused: {reason}").format(reason=reason))


def sanitize_svg(data: bytes) -> bytes:
    """The SVG's bytes when it is safe to rasterise; :class:`PlanImageError` saying what
    is wrong otherwise (see the module's notes)."""
    from defusedxml import DefusedXmlException
    from defusedxml import ElementTree as SafeET

    try:
        root = SafeET.fromstring(data, forbid_dtd=True)
    except DefusedXmlException:
        raise _refuse_svg(gettext("it declares a DTD or entities")) from None
    except SafeET.ParseError as exc:
        raise _refuse_svg(
            gettext("it is not well-formed XML ({error})").format(error=exc)
        ) from None
    if _local(root.tag) != "svg":
        raise _refuse_svg(gettext("its root element is not <svg>"))
    elements = list(root.iter())
    if len(elements) > MAX_SVG_ELEMENTS:
        raise _refuse_svg(gettext("it has more than {n} elements").format(n=MAX_SVG_ELEMENTS))
    ids = {el.get("id"): el for el in elements if el.get("id")}
    uses = 0
    for el in elements:
        name = _local(el.tag)
        if name in FORBIDDEN_SVG:
            raise _refuse_svg(gettext("it contains a <{name}> element").format(name=name))
        if name == "style" and el.text and "@import" in el.text.lower():
            raise _refuse_svg(gettext("its style sheet imports another file"))
        for key, value in el.attrib.items():
            attr = _local(key)
            if attr.lower().startswith("on"):
                raise _refuse_svg(gettext("it has an event handler ({attr})").format(attr=attr))
            if attr == "href" and not value.startswith("#"):
                raise _refuse_svg(gettext("it links to something outside itself"))
        texts = [*el.attrib.values(), el.text or ""]
        for text in texts:
            for target in _URL.findall(text):
                if not target.startswith("#"):
                    raise _refuse_svg(gettext("it links to something outside itself"))
        if name == "use":
            uses += 1
            target_el = ids.get((el.get("href") or el.get(XLINK_HREF) or "").lstrip("#"))
            if target_el is not None and any(_local(d.tag) == "use" for d in target_el.iter()):
                raise _refuse_svg(gettext("it nests <use> elements"))
    if uses > MAX_SVG_USES:
        raise _refuse_svg(gettext("it has more than {n} <use> elements").format(n=MAX_SVG_USES))
    return data


def _svg(data: bytes) -> PlanImage:
    sanitize_svg(data)
    try:
        import cairosvg
    except (ImportError, OSError) as exc:  # OSError: the Cairo library is missing
        raise PlanImageError(
            gettext("SVG plans need CairoSVG and the Cairo library here ({error})").format(
                error=exc
            )
        ) from None
    try:
        probe = cairosvg.svg2png(bytestring=data, unsafe=False, output_width=64)
        with Image.open(io.BytesIO(probe)) as small:
            w, h = small.size
        scale = SVG_LONG_SIDE / max(w, h)
        width, height = max(1, round(w * scale)), max(1, round(h * scale))
        _check_size(width, height)
        png = cairosvg.svg2png(
            bytestring=data, unsafe=False, output_width=width, output_height=height
        )
    except PlanImageError:
        raise
    except Exception as exc:  # CairoSVG raises many kinds for a broken drawing
        raise _refuse_svg(gettext("it could not be drawn ({error})").format(error=exc)) from None
    with Image.open(io.BytesIO(png)) as img:
        img.load()
        return _encode(_flatten(img), "svg")


def _looks_svg(data: bytes) -> bool:
    head = data[:1024].lstrip(b"\xef\xbb\xbf").lstrip().lower()
    return head.startswith(b"<?xml") or head.startswith(b"<svg") or b"<svg" in head


def read_plan_image(data: bytes) -> PlanImage:
    """Check an uploaded plan file and re-encode it as PNG (see the module's notes).

    The type is taken from the bytes, never from the name: PNG and JPEG by their
    signature, SVG by its XML. Raises :class:`PlanImageError` with the reason.
    """
    if len(data) > MAX_PLAN_BYTES:
        raise _too_big(len(data))
    if not data:
        raise PlanImageError(gettext("the plan file is empty"))
    if data.startswith(b"\x89PNG\r\n\x1a\n") or data.startswith(b"\xff\xd8\xff"):
        return _raster(data)
    if _looks_svg(data):
        return _svg(data)
    raise PlanImageError(gettext("a plan must be a PNG, JPEG or SVG file"))
