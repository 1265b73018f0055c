"""Request dependencies: the signed-in user, role checks (deny by default) and CSRF.

Every route declares what it needs with :func:`needs`. The app-wide dependency
:func:`authorize` runs before every route: a route without a declared permission
is refused (403) whoever asks, so a new route is closed until someone opens it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from fastapi import Request

from cctrace.i18n import gettext as _
from cctrace.report.formatting import label
from cctrace.store.records import UserRecord
from cctrace.store.repository import Store

from .roles import Permission, allowed

if TYPE_CHECKING:
    from .state import AppState

F = TypeVar("F", bound=Callable[..., Any])

SESSION_COOKIE = "cctrace_session"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_PERMISSION_ATTR = "__cctrace_permission__"
_FORM_CSRF_ATTR = "__cctrace_form_csrf__"


class AuthError(Exception):
    """Sign-in needed (401) or not allowed (403); turned into the API's error body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def needs(permission: Permission, *, csrf_in_form: bool = False) -> Callable[[F], F]:
    """Declare the permission a route needs. ``csrf_in_form``: the handler checks the
    CSRF token itself (plain HTML form posts)."""

    def mark(fn: F) -> F:
        setattr(fn, _PERMISSION_ATTR, permission)
        setattr(fn, _FORM_CSRF_ATTR, csrf_in_form)
        return fn

    return mark


def route_permission(endpoint: Callable[..., Any] | None) -> Permission | None:
    """The permission a route endpoint declared (None: undeclared, so denied)."""
    return getattr(endpoint, _PERMISSION_ATTR, None)


def app_state(request: Request) -> AppState:
    """The application's shared state (store, site, jobs, settings)."""
    state: AppState = request.app.state.cctrace
    return state


def get_store(request: Request) -> Store:
    """The store the app was started on."""
    return app_state(request).store


def session_token(request: Request) -> tuple[str | None, bool]:
    """(token, came from the cookie)."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None, False
    return request.cookies.get(SESSION_COOKIE), True


def authorize(request: Request) -> None:
    """Run before every route: find the user, check the route's permission and CSRF."""
    route = request.scope.get("route")
    endpoint = getattr(route, "endpoint", None)
    permission = route_permission(endpoint)
    if permission is None:
        raise AuthError(403, "forbidden", _("this route is closed (no permission declared)"))
    if permission == Permission.PUBLIC:
        return
    state = app_state(request)
    token, from_cookie = session_token(request)
    session = state.store.web_sessions.get(token) if token else None
    if session is None:
        raise AuthError(401, "sign_in_required", _("sign in first (no session, or it expired)"))
    user = state.store.users.get(session.username)
    if not allowed(user.role, permission):
        raise AuthError(
            403,
            "forbidden",
            _("a {role} may not do this ({permission})").format(
                role=label(user.role), permission=permission.value
            ),
        )
    if (
        from_cookie
        and request.method in UNSAFE_METHODS
        and not getattr(endpoint, _FORM_CSRF_ATTR, False)
    ):
        from .security import tokens_equal

        if not tokens_equal(request.headers.get(CSRF_HEADER), session.csrf_token):
            raise AuthError(
                403, "csrf", _("missing or wrong {header} header").format(header=CSRF_HEADER)
            )
    request.state.user = user
    request.state.session_token = token
    request.state.csrf_token = session.csrf_token


def current_user(request: Request) -> UserRecord:
    """The signed-in user (set by :func:`authorize`)."""
    user = getattr(request.state, "user", None)
    if user is None:
        raise AuthError(401, "sign_in_required", _("sign in first"))
    if not isinstance(user, UserRecord):  # pragma: no cover - set only by authorize
        raise AuthError(401, "sign_in_required", _("sign in first"))
    return user


def client_address(request: Request) -> str:
    """The client's address, for sign-in rate limiting."""
    return request.client.host if request.client else "unknown"
