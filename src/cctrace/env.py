"""Settings from ``$CCTRACE_*`` environment variables (pydantic-settings).

:class:`CliSettings` holds the command line's own variables; the web app's are
:class:`cctrace.web.settings.WebSettings`. Both read ``CCTRACE_<FIELD>`` (an empty
variable counts as unset) and turn a bad value into one
:class:`~cctrace.errors.ConfigError` line naming the variable (:func:`describe_error`),
which ``cctrace`` prints before exiting 2. Secrets (``CCTRACE_SECRET_KEY``,
``CCTRACE_DATA_KEY``) are read by :mod:`cctrace.privacy.secrets`, which also refuses
placeholders; paths that only locate files (``CCTRACE_MODEL_DIR``, ``CCTRACE_FONT_DIR``,
``CCTRACE_SHARED_DATA``, ``CCTRACE_DEMO_CACHE``) are read where they are used.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from typing import Any

from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from cctrace.errors import ConfigError

ENV_PREFIX = "CCTRACE_"


def env_name(field: str) -> str:
    """The environment variable of a settings field (``session_hours`` ->
    ``CCTRACE_SESSION_HOURS``)."""
    return ENV_PREFIX + field.upper()


def describe_error(
    exc: ValidationError,
    env_fields: Collection[str],
    given: Mapping[str, Any] | None = None,
    secret_fields: Collection[str] = (),
) -> str:
    """One clause per problem, on one line: ``$CCTRACE_SESSION_HOURS: input should be a
    valid number ... (got 'abc')`` for a value read from the environment (one of
    ``env_fields`` not in ``given``), ``session_hours: ...`` for one given in code. The
    value of a ``secret_fields`` field is never shown."""
    given = given or {}
    parts = []
    for error in exc.errors(include_url=False):
        field = str(error["loc"][0]) if error["loc"] else ""
        from_env = field in env_fields and field not in given
        label = f"${env_name(field)}" if from_env else field
        message = str(error["msg"]).removeprefix("Value error, ")
        message = message[:1].lower() + message[1:]
        got = os.environ.get(env_name(field)) if from_env else error.get("input")
        if error["type"] == "missing":
            parts.append(f"{label}: not set")
        elif field in secret_fields:
            parts.append(f"{label}: {message}")
        else:
            parts.append(f"{label}: {message} (got {got!r})")
    return "; ".join(parts)


class CliSettings(BaseSettings):
    """The command line's variables. Build it with :meth:`load`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_ignore_empty=True, frozen=True, extra="ignore"
    )

    actor: str | None = None
    """Who is recorded in the audit log when ``--actor`` is not given
    (``$CCTRACE_ACTOR``; unset: the login name)."""
    no_progress: bool = False
    """No progress bars (``$CCTRACE_NO_PROGRESS``: 1/0, true/false, yes/no, on/off)."""

    @classmethod
    def load(cls) -> CliSettings:
        """The settings from the environment; ``ConfigError`` naming a bad variable."""
        try:
            return cls()
        except ValidationError as exc:
            raise ConfigError(describe_error(exc, cls.model_fields)) from None
