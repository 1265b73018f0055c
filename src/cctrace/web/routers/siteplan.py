"""The site's own plan: an admin uploads a picture and places it by reference points.

Every change is audited (``site_plan_upload``, ``site_plan_place``,
``site_plan_remove``). The plan in force is drawn under the route on the case page
and in reports (:mod:`cctrace.plans.storage`).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cctrace.errors import CctraceError
from cctrace.i18n import gettext
from cctrace.plans.georef import Placement, PlacementError
from cctrace.plans.images import MAX_PLAN_BYTES, PlanImageError, read_plan_image
from cctrace.plans.model import PlanPoint
from cctrace.plans.storage import (
    active_plan,
    remove_upload,
    save_points,
    save_upload,
    uploaded_plan,
)
from cctrace.store.records import UserRecord
from cctrace.store.repository import Store

from ..deps import AuthError, app_state, current_user, get_store, needs
from ..roles import Permission

router = APIRouter(prefix="/api/admin/site-plan", tags=["administration"])
User = Annotated[UserRecord, Depends(current_user)]
StoreDep = Annotated[Store, Depends(get_store)]
SLOTS = 3
"""Reference points the admin page's form offers (the site file takes up to 6)."""


class PlacementOut(BaseModel):
    """How well the reference points place the plan."""

    kind: Literal["similarity", "affine"]
    metres_per_pixel: float
    residuals_m: list[float]
    check_m: list[float] = Field(
        description="Per point: metres from the best true-to-scale placement (the check)"
    )
    check_max_m: float
    checkable: bool = Field(description="Three or more points: the check can show an error")
    suspicious: bool = Field(description="The check is large for the points' spread")
    worst_point: int

    @classmethod
    def of(cls, p: Placement) -> PlacementOut:
        """From a fitted placement."""
        return cls(
            kind=p.kind,
            metres_per_pixel=p.metres_per_pixel,
            residuals_m=list(p.residuals_m),
            check_m=list(p.check_m),
            check_max_m=p.check_max_m,
            checkable=p.checkable,
            suspicious=p.suspicious,
            worst_point=p.worst_point(),
        )


class SitePlanOut(BaseModel):
    """The plan in force and the uploaded one."""

    in_force: Literal["upload", "site file", "none"]
    uploaded: bool
    placed: bool
    width: int | None = None
    height: int | None = None
    file_name: str = ""
    sha256: str = ""
    uploaded_by: str = ""
    uploaded_at: str = ""
    points: list[PlanPoint] = []
    placement: PlacementOut | None = None
    problem: str = ""


class PointsIn(BaseModel):
    """The admin page's placement form: ``kind`` and up to three rows ``pN_u``, ``pN_v``
    (image pixel) with ``pN_a``, ``pN_b`` (x, y metres; or lat, lon). Empty rows are
    left out; at least two rows are needed."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["site", "latlon"] = "site"
    p1_u: float | None = None
    p1_v: float | None = None
    p1_a: float | None = None
    p1_b: float | None = None
    p2_u: float | None = None
    p2_v: float | None = None
    p2_a: float | None = None
    p2_b: float | None = None
    p3_u: float | None = None
    p3_v: float | None = None
    p3_a: float | None = None
    p3_b: float | None = None

    def to_points(self) -> list[PlanPoint]:
        """The filled rows as plan points; a half-filled row is an error naming it."""
        out = []
        for n in range(1, SLOTS + 1):
            row = [getattr(self, f"p{n}_{k}") for k in "uvab"]
            if all(v is None for v in row):
                continue
            if any(v is None for v in row):
                raise PlacementError(
                    gettext("point {n}: fill in all four numbers or none").format(n=n)
                )
            u, v, a, b = (float(x) for x in row)
            place = {"x_m": a, "y_m": b} if self.kind == "site" else {"lat": a, "lon": b}
            try:
                out.append(PlanPoint.model_validate({"pixel": [u, v], **place}))
            except ValidationError as exc:
                raise PlacementError(
                    gettext("point {n}: {error}").format(n=n, error=exc.errors()[0]["msg"])
                ) from None
        return out


def plan_status(request: Request) -> SitePlanOut:
    """What the admin page shows about the site plan."""
    site = app_state(request).site
    try:
        up = uploaded_plan(site)
        active = active_plan(site)
    except (OSError, ValueError, CctraceError) as exc:
        return SitePlanOut(in_force="none", uploaded=False, placed=False, problem=str(exc))
    placement = None
    points: list[PlanPoint] = []
    if active is not None:
        points = list(active.config.points)
        placement = PlacementOut.of(active.config.placement())
    base = SitePlanOut(
        in_force=active.source if active else "none",
        uploaded=up is not None,
        placed=bool(up and up.placed),
        points=points,
        placement=placement,
    )
    if up is not None:
        return base.model_copy(
            update={
                "width": up.width,
                "height": up.height,
                "file_name": up.file_name,
                "sha256": up.sha256,
                "uploaded_by": up.uploaded_by,
                "uploaded_at": up.uploaded_at,
                "points": list(up.points) if up.placed else points,
            }
        )
    if active is not None:
        return base.model_copy(update={"width": active.width, "height": active.height})
    return base


@router.get("", response_model=SitePlanOut)
@needs(Permission.ADMIN)
def get_site_plan(request: Request) -> SitePlanOut:
    """The plan in force (uploaded, from the site file, or none) and its placement."""
    return plan_status(request)


@router.post("/image", response_model=SitePlanOut, status_code=201)
@needs(Permission.ADMIN)
async def upload_site_plan(
    request: Request,
    user: User,
    store: StoreDep,
    image: Annotated[UploadFile, File(description="PNG, JPEG or SVG site plan")],
) -> SitePlanOut:
    """Upload the site's plan picture (it replaces an earlier upload and its points;
    place it next). Audited."""
    data = await image.read(MAX_PLAN_BYTES + 1)
    name = image.filename or "plan"
    try:
        picture = await run_in_threadpool(read_plan_image, data)
    except PlanImageError as exc:
        store.audit.append(
            user.username,
            "site_plan_upload_refused",
            None,
            {"file_name": name[:200], "bytes": len(data)},
            {"reason": str(exc)},
        )
        raise AuthError(400, "bad_plan", f"{name}: {exc}") from None
    site = app_state(request).site
    saved = await run_in_threadpool(save_upload, site, picture, name, user.username)
    store.audit.append(
        user.username,
        "site_plan_upload",
        None,
        {"file_name": saved.file_name, "bytes": len(data), "format": picture.source_format},
        {"sha256": saved.sha256, "width": saved.width, "height": saved.height},
    )
    return plan_status(request)


@router.post("/points", response_model=SitePlanOut)
@needs(Permission.ADMIN)
def place_site_plan(body: PointsIn, request: Request, user: User, store: StoreDep) -> SitePlanOut:
    """Place the uploaded plan by 2-3 reference points (image pixel and site metres or
    lat/lon). A degenerate set is refused with the reason. Audited."""
    site = app_state(request).site
    try:
        points = body.to_points()
        placed = save_points(site, points, user.username)
    except PlacementError as exc:
        raise AuthError(400, "bad_placement", str(exc)) from None
    except ValueError as exc:  # a degenerate set, reported by the declaration's check
        raise AuthError(400, "bad_placement", _first_error(exc)) from None
    placement = placed.config().placement()
    store.audit.append(
        user.username,
        "site_plan_place",
        None,
        {"points": [p.model_dump(exclude_none=True) for p in points]},
        {"kind": placement.kind, "check_max_m": round(placement.check_max_m, 3)},
    )
    return plan_status(request)


def _first_error(exc: ValueError) -> str:
    if isinstance(exc, ValidationError):
        msg = str(exc.errors()[0]["msg"])
        return msg.removeprefix("Value error, ")
    return str(exc)


@router.delete("", response_model=SitePlanOut)
@needs(Permission.ADMIN)
def remove_site_plan(request: Request, user: User, store: StoreDep) -> SitePlanOut:
    """Remove the uploaded plan (the site file's plan, if any, is in force again)."""
    if remove_upload(app_state(request).site):
        store.audit.append(user.username, "site_plan_remove", None, {}, {})
    return plan_status(request)


@router.get("/image")
@needs(Permission.ADMIN)
def site_plan_image(request: Request) -> Response:
    """The uploaded plan picture as stored (PNG), for placing it."""
    up = uploaded_plan(app_state(request).site)
    if up is None:
        raise AuthError(404, "not_found", gettext("no site plan has been uploaded"))
    return Response(up.png_path.read_bytes(), media_type="image/png")
