"""Web app settings, from the environment (``$CCTRACE_*``) and ``cctrace serve`` options.

:class:`WebSettings` is a pydantic-settings model: the documented variables
``CCTRACE_SECRET_KEY``, ``CCTRACE_SESSION_HOURS``, ``CCTRACE_COOKIE_SECURE``,
``CCTRACE_MAX_UPLOAD_MB`` and ``CCTRACE_TRUSTED_PROXIES`` fill the fields of the same
name (an empty variable counts as unset); the other fields come from ``cctrace serve``
options and code only, so no variable can turn on demo mode. :meth:`WebSettings.from_env`
and :meth:`WebSettings.for_demo` turn a bad value into a one-line
:class:`~cctrace.errors.ConfigError` naming the variable (``cctrace`` prints it and exits 2).
"""

from __future__ import annotations

import ipaddress
import secrets
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from cctrace.env import ENV_PREFIX, describe_error
from cctrace.errors import ConfigError
from cctrace.privacy.secrets import env_secret

SECRET_ENV = "CCTRACE_SECRET_KEY"
MAX_UPLOAD_MB_CEILING = 20.0
"""``$CCTRACE_MAX_UPLOAD_MB`` may not exceed this (query photos are read in memory)."""
MAX_PHOTOS_PER_TRACE = 5
ENV_FIELDS = frozenset(
    {"secret_key", "session_hours", "cookie_secure", "max_upload_mb", "trusted_proxies"}
)
"""The fields read from ``$CCTRACE_<FIELD>``; the rest are set by code only."""


class _DocumentedEnv(EnvSettingsSource):
    """The environment source, limited to :data:`ENV_FIELDS`."""

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in super().__call__().items() if k in ENV_FIELDS}


class WebSettings(BaseSettings):
    """How the web app runs. Build it with :meth:`from_env` (or :meth:`for_demo`);
    change a built one with ``settings.model_copy(update={...})``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_ignore_empty=True,
        frozen=True,
        extra="forbid",
        validate_default=True,
    )

    secret_key: str = Field(repr=False)
    """Signs the sign-in form's CSRF cookie; from ``$CCTRACE_SECRET_KEY``."""
    session_hours: float = Field(default=8.0, ge=0.05, le=24.0)
    """A session ends this long after sign-in (``$CCTRACE_SESSION_HOURS``, 0.05..24)."""
    cookie_secure: bool = True
    """Send cookies over HTTPS only (``$CCTRACE_COOKIE_SECURE``: 1/0, true/false, yes/no,
    on/off; 0 only for plain-HTTP localhost)."""
    max_upload_mb: float = Field(default=10.0, ge=0.1, le=MAX_UPLOAD_MB_CEILING)
    """Largest photo accepted (``$CCTRACE_MAX_UPLOAD_MB``, 0.1..20)."""
    max_photos: int = Field(default=MAX_PHOTOS_PER_TRACE, ge=1)
    """Most photos in one trace request."""
    login_attempts: int = Field(default=5, ge=1)
    """Failed sign-ins allowed per user name and per client in ``login_window_s``."""
    login_window_s: float = Field(default=900.0, gt=0)
    trace_workers: int = Field(default=1, ge=0)
    """Traces run at once (each holds the face models; more need more memory)."""
    demo: bool = False
    """Demo mode: an ephemeral secret key; never for real footage."""
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = ()
    """Addresses of reverse proxies whose ``X-Forwarded-For`` names the real client
    (``$CCTRACE_TRUSTED_PROXIES``, comma-separated). Empty: the header is ignored, so a
    client cannot pick its own address and escape the per-address sign-in limit."""

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_addresses(cls, value: object) -> object:
        """A comma-separated string (the environment) or a sequence; blanks dropped."""
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            try:
                ipaddress.ip_address(item)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address") from None
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments first, then the documented variables; no ``.env`` or secrets dir."""
        return init_settings, _DocumentedEnv(settings_cls)

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
        """Settings for a real deployment: ``$CCTRACE_SECRET_KEY`` is required (and
        refused when short or placeholder-like); ``ConfigError`` naming a bad variable."""
        key = env_secret(SECRET_ENV)
        if key is None:
            raise ConfigError(
                f"${SECRET_ENV} is not set: set it to at least 32 random characters "
                "(python -c 'import secrets; print(secrets.token_urlsafe(32))'), "
                "or run `cctrace serve --demo` to try the app on the demo footage"
            )
        return cls.checked(secret_key=key)

    @classmethod
    def for_demo(cls) -> WebSettings:
        """Demo and test settings: a fresh random key (or ``$CCTRACE_SECRET_KEY``),
        cookies over plain HTTP allowed; the other variables apply as in :meth:`from_env`."""
        key = env_secret(SECRET_ENV) or secrets.token_urlsafe(32)
        return cls.checked(secret_key=key, cookie_secure=False, demo=True)

    @classmethod
    def checked(cls, **values: Any) -> WebSettings:
        """``WebSettings(**values)`` (the environment filling the rest), with a
        ``ValidationError`` turned into a one-line ``ConfigError`` naming the variable."""
        try:
            return cls(**values)
        except ValidationError as exc:
            raise ConfigError(
                describe_error(exc, ENV_FIELDS, given=values, secret_fields=("secret_key",))
            ) from None
