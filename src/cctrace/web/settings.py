"""Web app settings, from the environment (secrets) and ``cctrace serve`` options."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass

from cctrace.errors import ConfigError
from cctrace.privacy.secrets import env_secret

SECRET_ENV = "CCTRACE_SECRET_KEY"
MAX_UPLOAD_MB_CEILING = 20.0
"""``$CCTRACE_MAX_UPLOAD_MB`` may not exceed this (query photos are read in memory)."""
MAX_PHOTOS_PER_TRACE = 5


def _env_number(name: str, default: float, low: float, high: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"${name}: expected a number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"${name}: expected {low:g}..{high:g}, got {value:g}")
    return value


@dataclass(frozen=True)
class WebSettings:
    """How the web app runs. Build it with :meth:`from_env` (or :meth:`for_demo`)."""

    secret_key: str
    """Signs the sign-in form's CSRF cookie; from ``$CCTRACE_SECRET_KEY``."""
    session_hours: float = 8.0
    """A session ends this long after sign-in (``$CCTRACE_SESSION_HOURS``)."""
    cookie_secure: bool = True
    """Send cookies over HTTPS only (``$CCTRACE_COOKIE_SECURE=0`` for plain-HTTP localhost)."""
    max_upload_mb: float = 10.0
    """Largest photo accepted (``$CCTRACE_MAX_UPLOAD_MB``)."""
    max_photos: int = MAX_PHOTOS_PER_TRACE
    """Most photos in one trace request."""
    login_attempts: int = 5
    """Failed sign-ins allowed per user name and per client in ``login_window_s``."""
    login_window_s: float = 900.0
    trace_workers: int = 1
    """Traces run at once (each holds the face models; more need more memory)."""
    demo: bool = False
    """Demo mode: an ephemeral secret key; never for real footage."""
    trusted_proxies: tuple[str, ...] = ()
    """Addresses of reverse proxies whose ``X-Forwarded-For`` names the real client
    (``$CCTRACE_TRUSTED_PROXIES``, comma-separated). Empty: the header is ignored, so a
    client cannot pick its own address and escape the per-address sign-in limit."""

    def uvicorn_options(self) -> dict[str, object]:
        """Proxy-header options for ``uvicorn.run``: trust only ``trusted_proxies``
        (uvicorn's own default trusts 127.0.0.1)."""
        if not self.trusted_proxies:
            return {"proxy_headers": False, "forwarded_allow_ips": ""}
        return {"proxy_headers": True, "forwarded_allow_ips": ",".join(self.trusted_proxies)}

    @property
    def max_upload_bytes(self) -> int:
        """``max_upload_mb`` in bytes."""
        return int(self.max_upload_mb * 1024 * 1024)

    @classmethod
    def from_env(cls) -> WebSettings:
        """Settings for a real deployment: ``$CCTRACE_SECRET_KEY`` is required."""
        key = env_secret(SECRET_ENV)
        if key is None:
            raise ConfigError(
                f"${SECRET_ENV} is not set: set it to at least 32 random characters "
                "(python -c 'import secrets; print(secrets.token_urlsafe(32))'), "
                "or run `cctrace serve --demo` to try the app on the demo footage"
            )
        return cls(
            secret_key=key,
            session_hours=_env_number("CCTRACE_SESSION_HOURS", 8.0, 0.05, 24.0),
            cookie_secure=os.environ.get("CCTRACE_COOKIE_SECURE", "1") not in ("0", "false"),
            max_upload_mb=_env_number("CCTRACE_MAX_UPLOAD_MB", 10.0, 0.1, MAX_UPLOAD_MB_CEILING),
            trusted_proxies=_env_addresses("CCTRACE_TRUSTED_PROXIES"),
        )

    @classmethod
    def for_demo(cls) -> WebSettings:
        """Demo and test settings: a fresh random key, cookies over plain HTTP allowed."""
        key = env_secret(SECRET_ENV) or secrets.token_urlsafe(32)
        return cls(secret_key=key, cookie_secure=False, demo=True)


def _env_addresses(name: str) -> tuple[str, ...]:
    """Comma-separated IP addresses from the environment; ``ConfigError`` naming a bad one."""
    import ipaddress

    raw = os.environ.get(name, "")
    out = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        try:
            ipaddress.ip_address(item)
        except ValueError as exc:
            raise ConfigError(f"${name}: {item!r} is not an IP address") from exc
        out.append(item)
    return tuple(out)
