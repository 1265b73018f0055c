"""Server-rendered pages. They read the same services as the JSON API; the buttons call
the API with the session's CSRF token."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from cctrace.i18n import LANGUAGES, use_language
from cctrace.localtime import LocalClock
from cctrace.plans.storage import map_background
from cctrace.report.formatting import result_times
from cctrace.report.siteplan import build_site_plan
from cctrace.store import ContactStatus
from cctrace.store.records import Role, UserRecord
from cctrace.store.repository import Store
from cctrace.store.schema import CONTACT_NOTE_MAX
from cctrace.types import SightingStatus

from ..contact_work import contacts_of, open_contacts, team_work
from ..deps import app_state, current_user, get_store, needs
from ..language import LANG_COOKIE, LANG_COOKIE_MAX_AGE, local_path, request_language
from ..pages import templates
from ..roles import Permission
from ..schemas import ApprovalOut, AuditOut, TraceOut
from ..security import new_token, sign
from ..services import can_see, latest_result, saved_params, visible_case
from .admin import list_cameras, retention
from .audit import read_audit
from .siteplan import plan_status

router = APIRouter(include_in_schema=False)
User = Annotated[UserRecord, Depends(current_user)]
StoreDep = Annotated[Store, Depends(get_store)]
LOGIN_CSRF_COOKIE = "cctrace_login_csrf"
HOME = {
    Role.INVESTIGATOR: "/cases",
    Role.SUPERVISOR: "/cases",
    Role.AUDITOR: "/audit",
    Role.ADMIN: "/admin",
}


def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    """A page with the signed-in user, their CSRF token and the site's ``clock`` (local
    time: the ``local`` and ``short`` filters of :mod:`cctrace.web.pages` read it)."""
    context = {
        "user": getattr(request.state, "user", None),
        "csrf_token": getattr(request.state, "csrf_token", ""),
        "clock": LocalClock(app_state(request).site.zone()),
        **context,
    }
    with use_language(request_language(request)):
        return templates.TemplateResponse(request, name, context, status_code=status)


def login_page(request: Request, message: str = "", status: int = 200) -> Response:
    """The sign-in form, with a fresh signed CSRF cookie."""
    state = app_state(request)
    token = new_token()
    with use_language(request_language(request)):
        response = templates.TemplateResponse(
            request,
            "login.html",
            {
                "user": None,
                "message": message,
                "csrf_token": token,
                "next": request.query_params.get("next", "/"),
                "demo": state.settings.demo,
            },
            status_code=status,
        )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        sign(state.settings.secret_key, token),
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=state.settings.cookie_secure,
        path="/",
    )
    return response


@router.get("/login", response_class=HTMLResponse)
@needs(Permission.PUBLIC)
def login(request: Request) -> Response:
    """Sign-in page."""
    return login_page(request)


@router.get("/language/{lang}")
@needs(Permission.PUBLIC)
def choose_language(lang: str, request: Request, next: str = "/") -> Response:
    """The language switch: remember ``lang`` in a cookie and go back to ``next`` (a path
    on this server). An unknown language keeps the current one."""
    response = RedirectResponse(local_path(next), status_code=303)
    if lang in LANGUAGES:
        response.set_cookie(
            LANG_COOKIE,
            lang,
            max_age=LANG_COOKIE_MAX_AGE,
            samesite="lax",
            secure=app_state(request).settings.cookie_secure,
            path="/",
        )
    return response


@router.get("/healthz")
@needs(Permission.PUBLIC)
def healthz() -> JSONResponse:
    """Liveness probe (no data)."""
    return JSONResponse({"ok": True})


@router.get("/")
@needs(Permission.SIGNED_IN)
def home(user: User) -> Response:
    """Each role's start page."""
    return RedirectResponse(HOME[user.role], status_code=303)


@router.get("/cases", response_class=HTMLResponse)
@needs(Permission.CASE_READ)
def cases_page(request: Request, user: User, store: StoreDep) -> Response:
    """Your cases with their open work (close contacts still to call) and a form to open
    one."""
    work = team_work(app_state(request), user)
    return render(
        request,
        "cases.html",
        {
            "cases": [w.case for w in work],
            "work": {w.case.id: w for w in work},
            "open_total": len(open_contacts(work)),
        },
    )


@router.get("/cases/{case_id}", response_class=HTMLResponse)
@needs(Permission.CASE_READ)
def case_page(
    case_id: str, request: Request, user: User, store: StoreDep, saved: int | None = None
) -> Response:
    """A case: trace form, progress, timeline, route map, contacts with their statuses,
    review, exports. ``saved``: the contact whose status was just saved (a message)."""
    state = app_state(request)
    case = visible_case(store, user, case_id)
    result = latest_result(state, case_id)
    trace = TraceOut.of(result) if result else None
    # The tables' clock is the result's, as in the reports and the call list, so a
    # contact has the same name everywhere (the window always shows its own offsets);
    # without a result, the window's offsets make the caption.
    clock = LocalClock.of(
        state.site.zone(),
        result_times(result) if result else [case.window_from, case.window_to],
    )
    plan = None
    if result:
        with state.case_lock(case_id):  # one request per case fills the plan caches
            plan = build_site_plan(result, clock, map_background(state.site))
    job = state.jobs.latest_for_case(case_id)
    approvals = [ApprovalOut.of(a) for a in store.approvals.find(case_id)]
    unblurred = {a.tracklet_id for a in approvals if a.kind == "unblur" and a.status == "approved"}
    params = saved_params(state, case_id)
    children = [c for c in store.cases.find(parent_case_id=case_id) if can_see(user, c)]
    store.audit.append(user.username, "view_case", case_id, {"via": "page"}, {})
    return render(
        request,
        "case.html",
        {
            "case": case,
            "trace": trace,
            "clock": clock,
            "plan": plan,
            "job": job if job and job.status in ("queued", "running", "failed") else None,
            "approvals": approvals,
            "unblurred": unblurred,
            "params": params,
            "defaults": state.site.trace,
            "children": children,
            "accepted": SightingStatus.ACCEPTED.value,
            "work": {
                w.number: w for w in contacts_of(case_id, result, store.contacts.statuses(case_id))
            },
            "saved": saved,
            "contact_statuses": list(ContactStatus),
            "note_max": CONTACT_NOTE_MAX,
        },
    )


@router.get("/approvals", response_class=HTMLResponse)
@needs(Permission.APPROVE)
def approvals_page(request: Request, user: User, store: StoreDep) -> Response:
    """Pending export and un-blur requests of your team."""
    items = [ApprovalOut.of(a) for a in store.approvals.find(team=user.team)]
    return render(request, "approvals.html", {"approvals": items})


@router.get("/audit", response_class=HTMLResponse)
@needs(Permission.AUDIT_READ)
def audit_page(
    request: Request, user: User, store: StoreDep, case_id: str | None = None
) -> Response:
    """The audit log and whether its chain verifies."""
    entries: list[AuditOut] = read_audit(store, user, case_id or None, 200, None)
    check = app_state(request).verify_audit_incrementally()
    head = store.audit.head()
    return render(
        request,
        "audit.html",
        {
            "entries": entries,
            "broken": check.broken,
            "verified": check.verified,
            "problem": check.problem,
            "anchor_path": str(store.audit_anchor_path),
            "head": head,
            "case_filter": case_id or "",
        },
    )


@router.get("/admin", response_class=HTMLResponse)
@needs(Permission.ADMIN)
def admin_page(request: Request, store: StoreDep) -> Response:
    """Users, cameras, retention and the site plan."""
    return render(
        request,
        "admin.html",
        {
            "users": store.users.all(),
            "cameras": list_cameras(store),
            "retention": retention(request, store),
            "roles": [r.value for r in Role],
            "site_plan": plan_status(request),
        },
    )
