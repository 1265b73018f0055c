"""Passwords (argon2id), session tokens, CSRF tokens and sign-in rate limiting."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict, deque

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


MAX_TRACKED_KEYS = 10_000
"""The limiter forgets the oldest keys beyond this many (memory stays bounded)."""


class LoginLimiter:
    """Counts sign-in attempts per key (user and client address) in a sliding window.

    :meth:`attempt` checks and records in one step under a lock, so parallel guesses
    cannot slip through between the check and the (slow) password verification; a
    successful sign-in clears its keys again.
    """

    def __init__(self, attempts: int, window_s: float) -> None:
        self.attempts = attempts
        self.window_s = window_s
        self._tries: OrderedDict[str, deque[float]] = OrderedDict()
        self._blocked_noted: dict[str, float] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> int:
        q = self._tries.get(key)
        if q is None:
            return 0
        while q and q[0] <= now - self.window_s:
            q.popleft()
        return len(q)

    def keys_for(self, username: str, address: str) -> dict[str, int]:
        """The keys of one attempt and their limits: the (user, address) pair gets
        ``attempts``; one address 4x that over all users; one user 10x over all
        addresses (a slow distributed guess, or a deliberate lockout, needs many tries)."""
        user = username.lower()[:128]
        return {
            f"pair:{user}|{address}": self.attempts,
            f"addr:{address}": 4 * self.attempts,
            f"user:{user}": 10 * self.attempts,
        }

    def attempt(self, keys: dict[str, int]) -> float:
        """0 and the attempt recorded, or the seconds to wait when a key is over its limit."""
        now = time.monotonic()
        with self._lock:
            wait = 0.0
            for key, limit in keys.items():
                if self._recent(key, now) >= limit:
                    wait = max(wait, self._tries[key][0] + self.window_s - now)
            if wait > 0:
                return wait
            for key in keys:
                self._tries.setdefault(key, deque()).append(now)
                self._tries.move_to_end(key)
            while len(self._tries) > MAX_TRACKED_KEYS:
                self._tries.popitem(last=False)
            return 0.0

    def first_block(self, key: str) -> bool:
        """True once per window for a blocked key (to audit a block, not every retry)."""
        now = time.monotonic()
        with self._lock:
            noted = self._blocked_noted.get(key)
            if noted is not None and noted > now - self.window_s:
                return False
            if len(self._blocked_noted) > MAX_TRACKED_KEYS:
                self._blocked_noted.clear()
            self._blocked_noted[key] = now
            return True

    def succeeded(self, keys: dict[str, int]) -> None:
        """A successful sign-in: forget the pair's attempts, and take this attempt back
        from the address and user counters (only failures count against them)."""
        with self._lock:
            for key in keys:
                if key.startswith("pair:"):
                    self._tries.pop(key, None)
                else:
                    q = self._tries.get(key)
                    if q:
                        q.pop()
