"""Signing in on the web, and the one-time codes the IVR reads to callers who would rather rate there.

The same lockout as the phone's PIN menus (``[selfservice] pin_max_failures`` wrong secrets within
``pin_lockout_minutes``, counted by the store per subject in one transaction): a guesser gains nothing by moving
between the phone and the web, and a locked-out subject is refused even with the right secret.

* A caller signs in with their number and their PIN, or a one-time code the IVR read to them after the phone's own
  checks (their PIN, when they set one). A number alone never signs anyone in: caller ID can be forged.
* An agent signs in with their agent number and PIN (the roster's ``pin``, as at the access number).
* An operator signs in with the name and password given by ``callcenter operators add``.

What signs a session is the ``Rater`` the phone uses (``client:<id>``, ``agent:<id>``, ``operator:<name>``), so
every rule downstream (``may_rate``) is the phone's.
"""

from __future__ import annotations

import asyncio
import enum
import re
from datetime import timedelta
from typing import Final

import structlog

from callcenter.config import SelfServiceConfig
from callcenter.domain.numbers import normalise_number
from callcenter.domain.pins import check_agent_pin, check_client_pin
from callcenter.domain.rules import Rater
from callcenter.domain.tokens import DUMMY_HASH, check_password, digest, hash_password, new_code
from callcenter.store import Store
from callcenter.usecases.ports import Clock

log = structlog.get_logger(__name__)

OPERATOR_NAME: Final = re.compile(r"^[a-z][a-z0-9._-]{0,31}$")
AGENT_ID: Final = re.compile(r"^[0-9]{2,8}$")
SECRET: Final = re.compile(r"^[0-9]{4,8}$")  # PINs (4-8 digits) and codes (6)
MIN_PASSWORD: Final = 10
CODE_MINUTES: Final = 10  # what the IVR says: "It works once, for ten minutes."


class Refused(enum.StrEnum):
    WRONG = "wrong"  # unknown, or a wrong secret (never which of the two)
    LOCKED = "locked"  # too many wrong secrets lately: refused even when right


class SignIn:
    def __init__(self, store: Store, selfservice: SelfServiceConfig, clock: Clock) -> None:
        self.store = store
        self.selfservice = selfservice
        self.clock = clock

    async def operator(self, name: str, password: str) -> Rater | Refused:
        name = name.strip().lower()
        if not OPERATOR_NAME.match(name) or len(password) > 1024:
            return Refused.WRONG
        operator = await self.store.get_operator(name)
        active = operator is not None and operator.active
        # scrypt is CPU and memory work: in a thread, so calls' IVRs keep running meanwhile; an unknown or disabled
        # name is checked against a dummy hash, so it costs (and answers) what a wrong password does
        stored = operator.password_hash if operator is not None and active else DUMMY_HASH
        right = await asyncio.to_thread(check_password, password, stored) and active
        return await self._decide(Rater("operator", name), right=right)

    async def agent(self, agent_id: str, pin: str) -> Rater | Refused:
        agent_id = agent_id.strip()
        if not AGENT_ID.match(agent_id) or not SECRET.match(pin):
            return Refused.WRONG
        agent = await self.store.get_agent(agent_id)
        if agent is None or not agent.active:
            return Refused.WRONG
        right = await asyncio.to_thread(check_agent_pin, agent_id, pin, agent.pin_hash)
        return await self._decide(Rater("agent", agent_id), right=right)

    async def caller(self, number: str, secret: str) -> Rater | Refused:
        """By PIN (if they set one) or by the one-time code the IVR gave them; the code is used up if right."""
        normal = normalise_number(number)
        secret = secret.strip()
        if normal is None or not SECRET.match(secret):
            return Refused.WRONG
        client = await self.store.find_client(normal)
        if client is None:
            return Refused.WRONG
        subject = Rater("client", str(client.id))
        if await self._locked(subject):
            return Refused.LOCKED
        stored, _ = await self.store.client_pin(client.id)
        right = stored is not None and await asyncio.to_thread(check_client_pin, secret, stored)
        if not right:
            right = await self.store.take_web_code(subject.actor, digest(secret), self.clock())
        return await self._decide(subject, right=right)

    async def issue_code(self, client_id: int) -> str:
        """A new one-time code for the caller (any older one stops working), valid for CODE_MINUTES; the IVR reads
        it once the caller passed the phone's own checks."""
        code = new_code()
        expires = self.clock() + timedelta(minutes=CODE_MINUTES)
        await self.store.set_web_code(f"client:{client_id}", digest(code), expires)
        log.info("web_code_issued", client=client_id)
        return code

    async def _locked(self, subject: Rater) -> bool:
        s = self.selfservice
        if not s.pin_max_failures:
            return False
        since = self.clock() - timedelta(minutes=s.pin_lockout_minutes)
        return await self.store.pin_failures(subject.actor, since) >= s.pin_max_failures

    async def _decide(self, subject: Rater, *, right: bool) -> Rater | Refused:
        s = self.selfservice
        now = self.clock()
        outcome = await self.store.record_pin_attempt(
            subject.actor,
            right=right,
            now=now,
            since=now - timedelta(minutes=s.pin_lockout_minutes),
            max_failures=s.pin_max_failures,
        )
        if outcome == "ok":
            log.info("web_signed_in", subject=subject.actor)
            return subject
        log.warning("web_sign_in_refused", subject=subject.actor, outcome=outcome)
        return Refused.LOCKED if outcome == "locked" else Refused.WRONG


def password_problem(name: str, password: str) -> str | None:
    """Why ``callcenter operators add`` refuses this name or password, or None."""
    if not OPERATOR_NAME.match(name):
        return "operator names are 1-32 characters: a lowercase letter, then lowercase letters, digits, . _ -"
    if len(password) < MIN_PASSWORD:
        return f"passwords are at least {MIN_PASSWORD} characters"
    if len(password) > 1024:
        return "passwords are at most 1024 characters"
    return None


async def add_operator(store: Store, name: str, password: str, clock: Clock) -> bool:
    """Create the operator (or give them a new password, ending their sessions); True if new. ValueError for a
    name or password ``password_problem`` refuses."""
    problem = password_problem(name, password)
    if problem is not None:
        raise ValueError(problem)
    hashed = await asyncio.to_thread(hash_password, password)
    return await store.add_operator(name, hashed, clock())
