"""Sign in and out (API and form), and who am I."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import urlparse

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import RedirectResponse

from cctrace.errors import NotFoundError
from cctrace.i18n import gettext as _
from cctrace.store.records import UserRecord

from ..deps import SESSION_COOKIE, AuthError, app_state, client_address, current_user, needs
from ..roles import Permission
from ..schemas import LoginIn, SessionOut, UserOut
from ..security import hash_password, needs_rehash, new_token, verify_password
from ..state import AppState

router = APIRouter(tags=["sign-in"])


def sign_in(state: AppState, request: Request, username: str, password: str) -> SessionOut:
    """Check the password (rate-limited, audited) and open a session."""
    address = client_address(request)
    keys = state.limiter.keys_for(username, address)
    wait = state.limiter.attempt(keys)
    if wait > 0:
        if state.limiter.first_block(next(iter(keys))):
            actor, who = _who(state, username)
            state.store.audit.append(
                actor, "sign_in", None, {"outcome": "rate_limited", "client": address, **who}, {}
            )
        raise AuthError(
            429,
            "rate_limited",
            _("too many sign-in attempts; try again in {s} s").format(s=int(wait) + 1),
        )
    stored = state.store.users.password_hash(username)
    if not verify_password(stored, password):
        actor, who = _who(state, username)
        state.store.audit.append(
            actor, "sign_in", None, {"outcome": "failed", "client": address, **who}, {}
        )
        raise AuthError(401, "bad_credentials", _("wrong user name or password"))
    state.limiter.succeeded(keys)
    if stored is not None and needs_rehash(stored):
        state.store.users.set_password_hash(username, hash_password(password))
    user = state.store.users.get(username)
    token, csrf = new_token(), new_token()
    expires = datetime.now(UTC) + timedelta(hours=state.settings.session_hours)
    state.store.web_sessions.create(token, user.username, csrf, expires)
    state.store.audit.append(
        user.username,
        "sign_in",
        None,
        {"outcome": "ok", "client": client_address(request)},
        {"role": user.role.value},
    )
    return SessionOut(token=token, csrf_token=csrf, expires_at=expires, user=UserOut.of(user))


def _who(state: AppState, username: str) -> tuple[str, dict[str, str]]:
    """The audit actor of a failed sign-in: the user when the name exists; otherwise
    "unknown user" and a short hash of what was typed (it may be a mistyped password)."""
    try:
        return state.store.users.get(username).username, {}
    except NotFoundError:
        digest = hashlib.sha256(username.encode("utf-8")).hexdigest()[:12]
        return "unknown user", {"typed_name_sha256": digest}


def set_session_cookie(state: AppState, response: Response, session: SessionOut) -> None:
    """The session cookie: HttpOnly, SameSite=Strict, Secure unless in plain-HTTP demo."""
    response.set_cookie(
        SESSION_COOKIE,
        session.token,
        max_age=int(state.settings.session_hours * 3600),
        httponly=True,
        samesite="strict",
        secure=state.settings.cookie_secure,
        path="/",
    )


@router.post("/api/auth/login", response_model=SessionOut)
@needs(Permission.PUBLIC)
def api_login(body: LoginIn, request: Request, response: Response) -> SessionOut:
    """Sign in; the token works as a Bearer token and is also set as a cookie."""
    state = app_state(request)
    session = sign_in(state, request, body.username, body.password)
    set_session_cookie(state, response, session)
    return session


@router.post("/api/auth/logout", status_code=204)
@needs(Permission.SIGNED_IN)
def api_logout(request: Request) -> Response:
    """End this session."""
    state = app_state(request)
    state.store.web_sessions.delete(request.state.session_token)
    state.store.audit.append(request.state.user.username, "sign_out", None, {}, {})
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/api/auth/me", response_model=UserOut)
@needs(Permission.SIGNED_IN)
def api_me(user: Annotated[UserRecord, Depends(current_user)]) -> UserOut:
    """The signed-in user."""
    return UserOut.of(user)


def safe_next(target: str | None) -> str:
    """Only same-site relative paths are followed after sign-in."""
    if not target:
        return "/"
    parsed = urlparse(target)
    if (
        parsed.scheme
        or parsed.netloc
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(c) < 32 or ord(c) == 127 for c in target)
    ):
        return "/"
    return target


@router.post("/login", include_in_schema=False)
@needs(Permission.PUBLIC, csrf_in_form=True)
def form_login(
    request: Request,
    username: Annotated[str, Form(max_length=128)],
    password: Annotated[str, Form(max_length=1024)],
    csrf_token: Annotated[str, Form(max_length=256)] = "",
    next_path: Annotated[str, Form(alias="next", max_length=512)] = "/",
) -> Response:
    """The sign-in form (CSRF: a signed cookie must match the form's hidden token)."""
    from ..security import tokens_equal, unsign
    from .pages import LOGIN_CSRF_COOKIE, login_page

    state = app_state(request)
    expected = unsign(state.settings.secret_key, request.cookies.get(LOGIN_CSRF_COOKIE))
    if not tokens_equal(expected, csrf_token):
        return login_page(request, _("The form expired; please sign in again."), 403)
    try:
        session = sign_in(state, request, username, password)
    except AuthError as exc:
        return login_page(request, exc.message, exc.status)
    response = RedirectResponse(safe_next(next_path), status_code=303)
    set_session_cookie(state, response, session)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


@router.post("/logout", include_in_schema=False)
@needs(Permission.SIGNED_IN, csrf_in_form=True)
def form_logout(
    request: Request, csrf_token: Annotated[str, Form(max_length=256)] = ""
) -> Response:
    """The sign-out button."""
    from ..security import tokens_equal

    state = app_state(request)
    if not tokens_equal(csrf_token, request.state.csrf_token):
        raise AuthError(403, "csrf", _("the sign-out form's CSRF token is missing or wrong"))
    state.store.web_sessions.delete(request.state.session_token)
    state.store.audit.append(request.state.user.username, "sign_out", None, {}, {})
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
