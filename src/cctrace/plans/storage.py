"""Where the site plan is kept, and which plan is in force.

An admin's upload lives in ``<data_dir>/site-plan/``: ``plan.png`` (the checked,
re-encoded picture) and ``plan.json`` (who uploaded it, its size and sha256, and its
reference points once placed). Both are written atomically (a temporary file in the
same folder, fsynced, then renamed), so a reader sees the old plan or the new one.

The plan in force is the uploaded one once it is placed, else the site file's
``site_plan``, else none: then the site's own tile server where ``map_tiles`` is set
(:func:`map_background`), else the metric grid.
"""

from __future__ import annotations

import functools
import io
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from PIL import Image

from cctrace.config import SiteConfig
from cctrace.errors import CctraceError, ConfigError
from cctrace.i18n import gettext
from cctrace.plans.georef import PlacementError
from cctrace.plans.images import PlanImage, read_plan_image
from cctrace.plans.model import PlanPoint, SitePlanConfig
from cctrace.plans.tiles import TileSource

log = logging.getLogger(__name__)

PLAN_FOLDER = "site-plan"
PLAN_PNG = "plan.png"
PLAN_JSON = "plan.json"
WORKING_SIDE = 4096
"""Plans longer than this are reduced in memory before drawing."""


@dataclass(frozen=True)
class UploadedPlan:
    """The admin's uploaded plan (placed or not yet)."""

    png_path: Path
    width: int
    height: int
    sha256: str
    file_name: str
    source_format: str
    uploaded_by: str
    uploaded_at: str
    points: tuple[PlanPoint, ...] = ()
    placed_by: str = ""
    placed_at: str = ""

    @property
    def placed(self) -> bool:
        """It has reference points."""
        return len(self.points) >= 2

    def config(self) -> SitePlanConfig:
        """As a declaration (only when :attr:`placed`)."""
        return SitePlanConfig(image=self.png_path, points=list(self.points))


@dataclass(frozen=True)
class ActivePlan:
    """The plan in force: its declaration, where it came from and its picture's size."""

    config: SitePlanConfig
    source: Literal["upload", "site file"]
    width: int
    height: int

    def picture(self) -> tuple[Image.Image, int]:
        """The plan's pixels (RGB) and how many of the plan's pixels each of them
        stands for: a plan longer than :data:`WORKING_SIDE` is kept reduced in memory
        (drawings are at most a few thousand pixels wide). Read once per file version."""
        path = self.config.image
        stat = path.stat()
        return _picture(str(path), stat.st_mtime_ns, stat.st_size)


def plan_folder(site: SiteConfig) -> Path:
    """``<data_dir>/site-plan``."""
    return site.storage.data_dir / PLAN_FOLDER


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def uploaded_plan(site: SiteConfig) -> UploadedPlan | None:
    """The uploaded plan, or None. A damaged ``plan.json`` is a ``ConfigError``."""
    folder = plan_folder(site)
    meta_path = folder / PLAN_JSON
    if not meta_path.is_file() or not (folder / PLAN_PNG).is_file():
        return None
    try:
        meta: dict[str, Any] = json.loads(meta_path.read_text(encoding="utf-8"))
        return UploadedPlan(
            png_path=folder / PLAN_PNG,
            width=int(meta["width"]),
            height=int(meta["height"]),
            sha256=str(meta["sha256"]),
            file_name=str(meta.get("file_name", "")),
            source_format=str(meta.get("source_format", "png")),
            uploaded_by=str(meta.get("uploaded_by", "")),
            uploaded_at=str(meta.get("uploaded_at", "")),
            points=tuple(PlanPoint.model_validate(p) for p in meta.get("points", [])),
            placed_by=str(meta.get("placed_by", "")),
            placed_at=str(meta.get("placed_at", "")),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{meta_path}: damaged site-plan record: {exc}") from exc


def _write_meta(folder: Path, plan: UploadedPlan) -> None:
    meta = {
        "width": plan.width,
        "height": plan.height,
        "sha256": plan.sha256,
        "file_name": plan.file_name,
        "source_format": plan.source_format,
        "uploaded_by": plan.uploaded_by,
        "uploaded_at": plan.uploaded_at,
        "points": [p.model_dump(exclude_none=True) for p in plan.points],
        "placed_by": plan.placed_by,
        "placed_at": plan.placed_at,
    }
    _atomic_write(folder / PLAN_JSON, json.dumps(meta, indent=2).encode("utf-8"))


def save_upload(site: SiteConfig, image: PlanImage, file_name: str, actor: str) -> UploadedPlan:
    """Keep a checked picture as the site's uploaded plan, not yet placed (an earlier
    upload and its points are replaced)."""
    folder = plan_folder(site)
    plan = UploadedPlan(
        png_path=folder / PLAN_PNG,
        width=image.width,
        height=image.height,
        sha256=image.sha256,
        file_name=Path(file_name).name[:200],
        source_format=image.source_format,
        uploaded_by=actor,
        uploaded_at=_now(),
    )
    # Points first cleared, then the picture swapped: never new pixels with old points.
    _write_meta(folder, plan)
    _atomic_write(folder / PLAN_PNG, image.png)
    return plan


def save_points(site: SiteConfig, points: list[PlanPoint], actor: str) -> UploadedPlan:
    """Place the uploaded plan by ``points`` (checked and fitted first: a bad set raises
    and nothing is written). ``NotFoundError``-like ``ConfigError`` when nothing is
    uploaded."""
    plan = uploaded_plan(site)
    if plan is None:
        raise PlacementError(gettext("upload a site plan first"))
    outside = [
        i + 1
        for i, p in enumerate(points)
        if not (0 <= p.pixel[0] <= plan.width and 0 <= p.pixel[1] <= plan.height)
    ]
    if outside:
        raise PlacementError(
            gettext("point {n} is outside the image ({w} x {h} pixels)").format(
                n=outside[0], w=plan.width, h=plan.height
            )
        )
    SitePlanConfig(image=plan.png_path, points=points)  # raises on a degenerate set
    placed = UploadedPlan(
        **{
            **plan.__dict__,
            "points": tuple(points),
            "placed_by": actor,
            "placed_at": _now(),
        }
    )
    _write_meta(plan_folder(site), placed)
    return placed


def remove_upload(site: SiteConfig) -> bool:
    """Delete the uploaded plan; True when there was one."""
    folder = plan_folder(site)
    found = False
    for name in (PLAN_JSON, PLAN_PNG):
        path = folder / name
        if path.exists():
            path.unlink()
            found = True
    return found


def active_plan(site: SiteConfig) -> ActivePlan | None:
    """The plan in force (see the module's notes), or None."""
    up = uploaded_plan(site)
    if up is not None and up.placed:
        return ActivePlan(up.config(), "upload", up.width, up.height)
    declared = site.site_plan
    if declared is None:
        return None
    size = declared_size(declared.image)
    return ActivePlan(declared, "site file", *size)


Background = ActivePlan | TileSource
"""What is drawn under the route: the plan image in force, or the site's tile server."""


def map_background(site: SiteConfig) -> Background | None:
    """The plan in force (:func:`active_plan`), else the site's tile server when
    ``map_tiles`` is set, else None (the metric grid). A plan that cannot be read (its
    file gone or damaged since it was checked) is logged and skipped: a tracer's page
    or report is drawn on the grid rather than not at all."""
    try:
        plan = active_plan(site)
    except (OSError, ValueError, CctraceError) as exc:
        log.warning("site plan skipped: %s", exc)
        plan = None
    if plan is not None:
        return plan
    return TileSource(site.map_tiles) if site.map_tiles is not None else None


def declared_size(path: Path) -> tuple[int, int]:
    """Width and height of a plan file as it is drawn (an SVG once rasterised)."""
    stat = path.stat()
    img, factor = _picture(str(path), stat.st_mtime_ns, stat.st_size)
    if factor == 1:
        return img.width, img.height
    with Image.open(path) as full:  # header only
        return full.size


@functools.lru_cache(maxsize=2)
def _picture(path: str, mtime_ns: int, size: int) -> tuple[Image.Image, int]:
    data = Path(path).read_bytes()
    if Path(path).name != PLAN_PNG or Path(path).parent.name != PLAN_FOLDER:
        data = read_plan_image(data).png  # a site file's plan: checked like an upload
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        rgb = img.convert("RGB")
    factor = max(1, -(-max(rgb.size) // WORKING_SIDE))
    return (rgb.reduce(factor) if factor > 1 else rgb), factor
