"""Secrets from the environment, refused at placeholder values.

A secret (the web app's session key, the data encryption key) is read from an
environment variable. Values that look like a template left unedited
("changeme", "secret", "<your key here>", ...) or that are too short are refused
with a :class:`~cctrace.errors.ConfigError` naming the variable, so a deployment
never runs on a key someone copied from the docs.
"""

from __future__ import annotations

import os
import re

from cctrace.errors import ConfigError

PLACEHOLDER_WORDS = (
    "changeme",
    "change-me",
    "change_me",
    "placeholder",
    "secret",
    "password",
    "example",
    "default",
    "insecure",
    "todo",
    "your",
    "dummy",
    "test",
)
"""A value containing one of these words (any case) is taken for a placeholder."""
_TEMPLATE = re.compile(r"^[<{\[$].*[>}\]]$|^\$\{?[A-Z_]+\}?$")


def is_placeholder(value: str) -> bool:
    """Whether ``value`` looks like an unedited template value rather than a real secret."""
    v = value.strip()
    lowered = v.lower()
    if not v or _TEMPLATE.match(v):
        return True
    for word in PLACEHOLDER_WORDS:
        if re.search(rf"(^|[^a-z0-9]){re.escape(word)}([^a-z0-9]|$)", lowered):
            return True  # "my-secret-key", "changeme", "test_key_1"
        if word in lowered and len(set(v)) < 24:
            return True  # "supersecretkeythatislongenough" (a random key has ~30 symbols)
    return len(set(v)) < 8  # "aaaaaaaa...", "1234123412341234"


def check_secret(name: str, value: str, min_length: int = 32) -> str:
    """``value`` if it is a usable secret for variable ``name``; ``ConfigError`` otherwise."""
    if len(value) < min_length:
        raise ConfigError(
            f"${name} is {len(value)} characters long; use at least {min_length} random "
            "characters (for example: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    if is_placeholder(value):
        raise ConfigError(
            f"${name} looks like a placeholder, not a secret; set it to at least {min_length} "
            "random characters (python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return value


def env_secret(name: str, min_length: int = 32) -> str | None:
    """The checked value of environment variable ``name``, or None when it is unset or empty."""
    value = os.environ.get(name)
    if value is None or value == "":
        return None
    return check_secret(name, value, min_length)
