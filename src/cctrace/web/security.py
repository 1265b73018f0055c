"""Passwords (argon2id), session tokens, CSRF tokens and sign-in rate limiting."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import defaultdict, deque

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_PASSWORD_LENGTH = 12

_hasher = PasswordHasher()
# A real hash to verify against when the user does not exist, so a wrong user name
# costs as long as a wrong password (no user enumeration by timing).
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class PasswordPolicyError(ValueError):
    """A new password is too weak; the message says what is required."""


def check_password_policy(password: str, username: str) -> None:
    """Refuse short passwords and passwords containing the user name."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordPolicyError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if username and username.lower() in password.lower():
        raise PasswordPolicyError("a password must not contain the user name")


def hash_password(password: str) -> str:
    """An argon2id hash (salted; parameters from argon2-cffi's current defaults)."""
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored_hash``; constant effort when the hash is None."""
    try:
        if stored_hash is None:
            _hasher.verify(_DUMMY_HASH, password)
            return False
        return _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """Whether a stored hash uses older parameters and should be replaced at sign-in."""
    try:
        return _hasher.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


def new_token() -> str:
    """A random 256-bit url-safe token (session ids, CSRF tokens)."""
    return secrets.token_urlsafe(32)


def tokens_equal(a: str | None, b: str | None) -> bool:
    """Constant-time comparison of two tokens (False when either is missing)."""
    if not a or not b:
        return False
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def sign(secret_key: str, value: str) -> str:
    """``value.hmac`` so a cookie value can be checked as ours."""
    mac = hmac.new(secret_key.encode("utf-8"), value.encode("utf-8"), hashlib.sha256)
    return f"{value}.{mac.hexdigest()}"


def unsign(secret_key: str, signed: str | None) -> str | None:
    """The value of a :func:`sign`-ed string, or None when the signature is wrong."""
    if not signed or "." not in signed:
        return None
    value = signed.rpartition(".")[0]
    return value if tokens_equal(sign(secret_key, value), signed) else None


class LoginLimiter:
    """Counts failed sign-ins per key (user name, client address) in a sliding window."""

    def __init__(self, attempts: int, window_s: float) -> None:
        self.attempts = attempts
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _trim(self, key: str, now: float) -> deque[float]:
        q = self._failures[key]
        while q and q[0] <= now - self.window_s:
            q.popleft()
        return q

    def retry_after(self, *keys: str) -> float:
        """Seconds until any of ``keys`` may try again (0 when none is blocked)."""
        now = time.monotonic()
        wait = 0.0
        with self._lock:
            for key in keys:
                q = self._trim(key, now)
                if len(q) >= self.attempts:
                    wait = max(wait, q[0] + self.window_s - now)
        return wait

    def failed(self, *keys: str) -> None:
        """Record one failed attempt under each key."""
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._trim(key, now).append(now)

    def succeeded(self, *keys: str) -> None:
        """Forget the failures of ``keys`` after a successful sign-in."""
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)
