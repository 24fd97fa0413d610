"""PINs: agents' (from the roster) and callers' (set by phone to protect their ratings), never stored in clear.

PINs are a few digits, so no hash makes a stolen database safe against guessing; hashing keeps them out of the
database and the logs in clear, and the three-tries limit of the phone menus is what stops guessing by phone.
PBKDF2 at 100k rounds costs tens of milliseconds of CPU: callers run it in a worker thread (``asyncio.to_thread``)
so one PIN check does not stall every other call's IVR.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SCHEME = "pbkdf2-sha256"
ROUNDS = 100_000


def _derive(pin: str, salt: str) -> str:
    return hashlib.pbkdf2_hmac("sha256", pin.encode(), salt.encode(), ROUNDS).hex()


def hash_agent_pin(agent_id: str, pin: str) -> str:
    # The salt is the agent id so re-loading an unchanged roster stores the same value (no churn on restart).
    return f"{SCHEME}${_derive(pin, f'callcenter-agent:{agent_id}')}"


def check_agent_pin(agent_id: str, pin: str, stored: str | None) -> bool:
    return stored is not None and hmac.compare_digest(hash_agent_pin(agent_id, pin), stored)


def hash_client_pin(pin: str) -> str:
    salt = secrets.token_hex(8)
    return f"{SCHEME}${salt}${_derive(pin, salt)}"


def check_client_pin(pin: str, stored: str | None) -> bool:
    if stored is None:
        return False
    scheme, _, rest = stored.partition("$")
    salt, _, digest = rest.partition("$")
    if scheme != SCHEME or not salt or not digest:
        return False
    return hmac.compare_digest(_derive(pin, salt), digest)
