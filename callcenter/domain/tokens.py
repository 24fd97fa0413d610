"""The web console's secrets: session tokens, CSRF tokens, one-time codes and operators' passwords.

Only digests are stored (``digest``): the session cookie and the code the IVR reads are random, so a plain SHA-256
of them is enough to make a copy of the database useless for signing in. Passwords are chosen by people, so they
get scrypt (memory-hard, in the standard library): about 50 ms per check, run in a thread by the callers.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SCHEME = "scrypt"
# n=2**14, r=8: 16 MiB and tens of milliseconds per hash, OWASP's floor for scrypt
N, R, P = 2**14, 8, 1
CODE_DIGITS = 6


def new_token() -> str:
    """A session or CSRF token: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def new_code() -> str:
    """A one-time code a caller can key and a person can read out: six random digits."""
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    """Constant-time comparison of two tokens."""
    return hmac.compare_digest(a.encode(), b.encode())


def _scrypt(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=N, r=R, p=P, maxmem=64 * 1024 * 1024, dklen=32)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    return f"{SCHEME}${salt.hex()}${_scrypt(password, salt).hex()}"


def check_password(password: str, stored: str | None) -> bool:
    """Whether ``password`` matches ``stored``; False for a missing or malformed hash (never an exception)."""
    if stored is None:
        return False
    scheme, _, rest = stored.partition("$")
    salt, _, want = rest.partition("$")
    try:
        salt_bytes, want_bytes = bytes.fromhex(salt), bytes.fromhex(want)
    except ValueError:
        return False
    if scheme != SCHEME or not salt_bytes or not want_bytes:
        return False
    return hmac.compare_digest(_scrypt(password, salt_bytes), want_bytes)


# a hash to check against when the account does not exist, so a wrong name costs what a wrong password costs
DUMMY_HASH = f"{SCHEME}${'00' * 16}${'00' * 32}"
