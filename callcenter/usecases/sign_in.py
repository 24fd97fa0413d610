"""Signing in on the web, and the one-time codes the IVR reads to callers who would rather rate there.

The phone's lockout rule (``[selfservice] pin_max_failures`` wrong secrets within ``pin_lockout_minutes``,
counted by the store per subject in one transaction, refused even with the right secret), with counters of the
web's own (``web:agent:1001``, ``web:caller:5550101``, ``web:operator:sue``): anyone who can reach the sign-in page
could otherwise lock every agent out of the phone's agent menu with ten requests an hour. A name, number or agent
that does not exist is counted and locked exactly like one that does, so the answers never tell which exist; the
lockout is checked before any hash is computed, and one hash runs at a time (``self.hashing``, at most
MAX_WAITING in flight), so a flood of sign-ins holds at most one thread of the pool the IVR's PIN checks use.

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
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
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
# what a PIN is checked against when there is none (an unknown agent or caller, or no PIN set): the same work
DUMMY_PIN: Final = "pbkdf2-sha256$00$00"
CODE_MINUTES: Final = 10  # what the IVR says: "It works once, for ten minutes."
MAX_WAITING: Final = 8  # sign-ins hashing or waiting to; more are refused at once (Refused.BUSY)
PRUNE_EVERY: Final = timedelta(minutes=1)


class _Busy(Exception):
    pass


class Refused(enum.StrEnum):
    WRONG = "wrong"  # unknown, or a wrong secret (never which of the two)
    LOCKED = "locked"  # too many wrong secrets lately: refused even when right
    BUSY = "busy"  # too many sign-ins at once: try again (a flood must not queue without bound)


class SignIn:
    def __init__(self, store: Store, selfservice: SelfServiceConfig, clock: Clock) -> None:
        self.store = store
        self.selfservice = selfservice
        self.clock = clock
        self.hashing = asyncio.Semaphore(1)
        self.waiting = 0  # sign-ins holding or waiting for ``hashing``
        self._pruned = datetime.min.replace(tzinfo=UTC)

    async def _check(self, check: Callable[..., bool], *args: object) -> bool:
        # PBKDF2 and scrypt are CPU work: in a thread, so the calls' IVRs keep running, and one at a time
        if self.waiting >= MAX_WAITING:
            raise _Busy
        self.waiting += 1
        try:
            async with self.hashing:
                return bool(await asyncio.to_thread(check, *args))
        finally:
            self.waiting -= 1

    async def operator(self, name: str, password: str) -> Rater | Refused:
        return await _unless_busy(self._operator(name, password))

    async def agent(self, agent_id: str, pin: str) -> Rater | Refused:
        return await _unless_busy(self._agent(agent_id, pin))

    async def caller(self, number: str, secret: str) -> Rater | Refused:
        """By PIN (if they set one) or by the one-time code the IVR gave them; the code is used up if right."""
        return await _unless_busy(self._caller(number, secret))

    async def _operator(self, name: str, password: str) -> Rater | Refused:
        name = name.strip().lower()
        if not OPERATOR_NAME.match(name) or len(password) > 1024:
            return Refused.WRONG
        counter = f"web:operator:{name}"
        if await self._locked(counter):
            return Refused.LOCKED
        operator = await self.store.get_operator(name)
        active = operator is not None and operator.active
        # an unknown or disabled name is checked against a dummy hash: it costs and answers what a wrong password does
        stored = operator.password_hash if operator is not None and active else DUMMY_HASH
        right = await self._check(check_password, password, stored) and active
        return await self._decide(counter, Rater("operator", name), right=right)

    async def _agent(self, agent_id: str, pin: str) -> Rater | Refused:
        agent_id = agent_id.strip()
        if not AGENT_ID.match(agent_id) or not SECRET.match(pin):
            return Refused.WRONG
        counter = f"web:agent:{agent_id}"
        if await self._locked(counter):
            return Refused.LOCKED
        agent = await self.store.get_agent(agent_id)
        active = agent is not None and agent.active
        stored = agent.pin_hash if agent is not None and active else None
        right = await self._check(check_agent_pin, agent_id, pin, stored or DUMMY_PIN) and stored is not None
        return await self._decide(counter, Rater("agent", agent_id), right=right)

    async def _caller(self, number: str, secret: str) -> Rater | Refused:
        normal = normalise_number(number)
        secret = secret.strip()
        if normal is None or not SECRET.match(secret):
            return Refused.WRONG
        counter = f"web:caller:{normal}"
        if await self._locked(counter):
            return Refused.LOCKED
        client = await self.store.find_client(normal)
        stored = (await self.store.client_pin(client.id))[0] if client is not None else None
        right = await self._check(check_client_pin, secret, stored or DUMMY_PIN) and stored is not None
        if not right:
            # asked for an unknown number too (no client has that subject): the same work, the same answer
            owner = f"client:{client.id}" if client is not None else f"unknown:{normal}"
            right = await self.store.take_web_code(owner, digest(secret), self.clock()) and client is not None
        subject = Rater("client", str(client.id)) if client is not None else None
        return await self._decide(counter, subject, right=right)

    async def issue_code(self, client_id: int) -> str:
        """A new one-time code for the caller (any older one stops working), valid for CODE_MINUTES; the IVR reads
        it once the caller passed the phone's own checks."""
        code = new_code()
        expires = self.clock() + timedelta(minutes=CODE_MINUTES)
        await self.store.set_web_code(f"client:{client_id}", digest(code), expires)
        log.info("web_code_issued", client=client_id)
        return code

    async def _locked(self, counter: str) -> bool:
        """The read-only pre-check, before any hash: the decision is ``_decide``'s, in one transaction."""
        s = self.selfservice
        if not s.pin_max_failures:
            return False
        since = self.clock() - timedelta(minutes=s.pin_lockout_minutes)
        return await self.store.pin_failures(counter, since) >= s.pin_max_failures

    async def _decide(self, counter: str, subject: Rater | None, *, right: bool) -> Rater | Refused:
        s = self.selfservice
        now = self.clock()
        outcome = await self.store.record_pin_attempt(
            counter,
            right=right and subject is not None,
            now=now,
            since=now - timedelta(minutes=s.pin_lockout_minutes),
            max_failures=s.pin_max_failures,
        )
        if outcome == "ok" and subject is not None:
            log.info("web_signed_in", subject=subject.actor)
            return subject
        if outcome == "wrong" and self.clock() - self._pruned >= PRUNE_EVERY:
            # counters of names and numbers tried once and never again would stay for ever: the window's end
            # clears them for every subject (the phone's too: the same window), at most once a minute
            self._pruned = now
            try:
                await self.store.forget_pin_failures(now - timedelta(minutes=s.pin_lockout_minutes))
            except Exception:  # housekeeping: the answer is still "wrong"
                log.warning("pin_failures_not_pruned", exc_info=True)
        log.warning("web_sign_in_refused", counter=counter, outcome=outcome)
        return Refused.LOCKED if outcome == "locked" else Refused.WRONG


async def _unless_busy(attempt: Awaitable[Rater | Refused]) -> Rater | Refused:
    try:
        return await attempt
    except _Busy:
        return Refused.BUSY


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
