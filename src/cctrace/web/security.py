"""Passwords (argon2id), session tokens, CSRF tokens and sign-in rate limiting."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

if TYPE_CHECKING:
    from cctrace.store.repository import Store

MIN_PASSWORD_LENGTH = 12

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """A real hash to verify against when the user does not exist, so a wrong user name
    costs as long as a wrong password (no user enumeration by timing). Made on first use,
    not at import: every web worker process imports this module at start."""
    return _hasher.hash(secrets.token_urlsafe(16))


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
            _hasher.verify(_dummy_hash(), password)
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
    """Counts sign-in attempts per key (user and client address) in a sliding window,
    in the store (``signin_attempts``), so every web process shares the counts.

    :meth:`attempt` checks and records in one locked transaction
    (``store.signin_attempts.record``), so parallel guesses, sent to one
    worker or to several, cannot slip through between the check and the (slow) password
    verification; a successful sign-in clears its keys again.
    """

    def __init__(self, store: Store, attempts: int, window_s: float) -> None:
        self.store = store
        self.attempts = attempts
        self.window_s = window_s

    def keys_for(self, username: str, address: str) -> dict[str, int]:
        """The keys of one attempt and their limits: the (user, address) pair gets
        ``attempts``; one address 4x that over all users; one user 10x over all
        addresses (a slow distributed guess, or a deliberate lockout, needs many tries)."""
        user = username.lower()[:128]
        address = address[:64]
        return {
            f"pair:{user}|{address}": self.attempts,
            f"addr:{address}": 4 * self.attempts,
            f"user:{user}": 10 * self.attempts,
        }

    def attempt(self, keys: dict[str, int]) -> float:
        """0 and the attempt recorded, or the seconds to wait when a key is over its limit."""
        return self.store.signin_attempts.record(keys, self.window_s)

    def first_block(self, key: str) -> bool:
        """True once per window for a blocked key (to audit a block, not every retry)."""
        return self.store.signin_attempts.record({f"noted:{key}": 1}, self.window_s) == 0

    def succeeded(self, keys: dict[str, int]) -> None:
        """A successful sign-in: forget the pair's attempts, and take this attempt back
        from the address and user counters (only failures count against them)."""
        pairs = [k for k in keys if k.startswith("pair:")]
        self.store.signin_attempts.forget(pairs, [k for k in keys if k not in pairs])
