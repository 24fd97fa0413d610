"""Keying in PINs (and the agent numbers keyed with them). Never with ``Read()`` or ``ask``: Read() logs "User
entered '1234'" in Asterisk's verbose log and leaves the digits in a channel variable, and ``ask`` logs the keys
pressed; an agent keying number and PIN in one go ("10021222") would put both there. AGI's GET DATA keeps them
between Asterisk and us, and nothing here logs them. Every PIN is 4-8 digits ending with # (or a pause), so a
habitual # after the last digit is never left over for the next menu. Three wrong tries end the attempt (the flows
then say goodbye); ``pin_max_failures`` wrong ones within ``pin_lockout_minutes``, over any number of calls, lock
the subject out."""

from __future__ import annotations

import asyncio
import enum
import re
from collections.abc import Callable
from datetime import timedelta

import structlog

from callcenter.agi import AGISession
from callcenter.config import SelfServiceConfig
from callcenter.domain.pins import hash_client_pin
from callcenter.ivr.ask import Asking, announce
from callcenter.store.api import PresenceStore
from callcenter.usecases.ports import Clock

log = structlog.get_logger(__name__)

MAX_PIN = 8
PIN = re.compile(r"^[0-9]{4,8}$")


class PinCheck(enum.Enum):
    OK = "ok"
    WRONG = "wrong"  # wrong (or nothing) every try of this call
    LOCKED = "locked"  # too many wrong PINs lately, over any number of calls: refused even when right


class PinEntry:
    """Keying PINs and agent numbers, and the lockout: what the caller's ratings menu and the agent menu share."""

    def __init__(self, store: PresenceStore, asking: Asking, selfservice: SelfServiceConfig, clock: Clock) -> None:
        self.store = store
        self.asking = asking
        self.selfservice = selfservice
        self.clock = clock

    async def read_secret(self, session: AGISession, prompt: str, max_digits: int) -> str:
        """Play ``prompt`` (one sound file) and collect up to ``max_digits`` keys with GET DATA, # or a pause ending
        them: for anything that must stay out of Asterisk's log and ours (PINs, the agent number keyed with one)."""
        keyed = await session.get_data(prompt, int(self.asking.timeout * 1000), max_digits)
        return keyed.digits

    async def read_pin(self, session: AGISession, prompt: str) -> str:
        """Play ``prompt`` and collect a PIN: up to 8 digits, # or a pause ends it."""
        return await self.read_secret(session, prompt, MAX_PIN)

    async def locked_out(self, session: AGISession, subject: str) -> bool:
        """The read-only pre-check: ``subject`` ('client:<id>', 'agent:<id>') keyed too many wrong PINs lately, so it is
        not even asked for one (and hears so). Only a hint: the decision is try_pin's, taken atomically."""
        s = self.selfservice
        if not s.pin_max_failures:
            return False
        since = self.clock() - timedelta(minutes=s.pin_lockout_minutes)
        if await self.store.pin_failures(subject, since) < s.pin_max_failures:
            return False
        log.warning("pin_locked_out", subject=subject, calling=session.env.callerid)
        await announce(session, ["cc/pin-locked"])
        return True

    async def try_pin(self, session: AGISession, subject: str, *, right: bool, attempt: int) -> PinCheck:
        """Decide one PIN try: the store counts the subject's recent failures, refuses at the limit (even a right PIN),
        and records the outcome (a right PIN clears them, a wrong one adds one) in one transaction, so concurrent calls
        cannot all slip under the limit. A wrong PIN is logged with the number it came from, for the operator who looks
        into a lockout; never the digits."""
        s = self.selfservice
        now = self.clock()
        outcome = await self.store.record_pin_attempt(
            subject,
            right=right,
            now=now,
            since=now - timedelta(minutes=s.pin_lockout_minutes),
            max_failures=s.pin_max_failures,
        )
        if outcome == "ok":
            log.info("pin_accepted", subject=subject, attempt=attempt)
            return PinCheck.OK
        if outcome == "locked":
            log.warning("pin_locked_out", subject=subject, attempt=attempt, calling=session.env.callerid)
            await announce(session, ["cc/pin-locked"])
            return PinCheck.LOCKED
        log.warning("pin_rejected", subject=subject, attempt=attempt, calling=session.env.callerid)
        return PinCheck.WRONG

    async def verify_pin(
        self, session: AGISession, prompt: str, check: Callable[[str], bool], *, subject: str
    ) -> PinCheck:
        """Ask for ``subject``'s PIN until ``check`` accepts it, for ``self.asking.attempts`` tries at most.

        LOCKED has said so ("too many wrong PINs")."""
        for attempt in range(1, self.asking.attempts + 1):
            if await self.locked_out(session, subject):
                return PinCheck.LOCKED
            pin = await self.read_pin(session, prompt)
            # PBKDF2 is CPU work: in a thread, so the other calls' IVRs keep running meanwhile
            right = PIN.match(pin) is not None and await asyncio.to_thread(check, pin)
            checked = await self.try_pin(session, subject, right=right, attempt=attempt)
            if checked is not PinCheck.WRONG:
                return checked
            if attempt < self.asking.attempts:
                await announce(session, ["cc/pin-wrong"])
        return PinCheck.WRONG

    async def choose_pin(self, session: AGISession) -> str | None:
        """Have the caller key a new PIN twice; its hash, or None if they never keyed the same valid PIN twice."""
        for _ in range(self.asking.attempts):
            first = await self.read_pin(session, "cc/choose-pin")
            if not PIN.match(first):
                await announce(session, ["cc/invalid" if first else "cc/no-input"])
                continue
            if await self.read_pin(session, "cc/repeat-pin") == first:
                return await asyncio.to_thread(hash_client_pin, first)
            await announce(session, ["cc/pin-mismatch"])
        log.info("pin_not_chosen")
        return None
