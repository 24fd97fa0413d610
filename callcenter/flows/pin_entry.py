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
from callcenter.flows.ask import announce
from callcenter.flows.deps import FlowDeps
from callcenter.pins import hash_client_pin

log = structlog.get_logger(__name__)

MAX_PIN = 8
PIN = re.compile(r"^[0-9]{4,8}$")


async def read_secret(session: AGISession, deps: FlowDeps, prompt: str, max_digits: int) -> str:
    """Play ``prompt`` (one sound file) and collect up to ``max_digits`` keys with GET DATA, # or a pause ending
    them: for anything that must stay out of Asterisk's log and ours (PINs, the agent number keyed with one)."""
    keyed = await session.get_data(prompt, int(deps.asking.timeout * 1000), max_digits)
    return keyed.digits


async def read_pin(session: AGISession, deps: FlowDeps, prompt: str) -> str:
    """Play ``prompt`` and collect a PIN: up to 8 digits, # or a pause ends it."""
    return await read_secret(session, deps, prompt, MAX_PIN)


class PinCheck(enum.Enum):
    OK = "ok"
    WRONG = "wrong"  # wrong (or nothing) every try of this call
    LOCKED = "locked"  # too many wrong PINs lately, over any number of calls: refused even when right


async def locked_out(session: AGISession, deps: FlowDeps, subject: str) -> bool:
    """The read-only pre-check: ``subject`` ('client:<id>', 'agent:<id>') keyed too many wrong PINs lately, so it is
    not even asked for one (and hears so). Only a hint: the decision is try_pin's, taken atomically."""
    s = deps.selfservice
    if not s.pin_max_failures:
        return False
    since = deps.clock() - timedelta(minutes=s.pin_lockout_minutes)
    if await deps.store.pin_failures(subject, since) < s.pin_max_failures:
        return False
    log.warning("pin_locked_out", subject=subject, calling=session.env.callerid)
    await announce(session, ["cc/pin-locked"])
    return True


async def try_pin(session: AGISession, deps: FlowDeps, subject: str, *, right: bool, attempt: int) -> PinCheck:
    """Decide one PIN try: the store counts the subject's recent failures, refuses at the limit (even a right PIN),
    and records the outcome (a right PIN clears them, a wrong one adds one) in one transaction, so concurrent calls
    cannot all slip under the limit. A wrong PIN is logged with the number it came from, for the operator who looks
    into a lockout; never the digits."""
    s = deps.selfservice
    now = deps.clock()
    outcome = await deps.store.record_pin_attempt(
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
    session: AGISession, deps: FlowDeps, prompt: str, check: Callable[[str], bool], *, subject: str
) -> PinCheck:
    """Ask for ``subject``'s PIN until ``check`` accepts it, for ``deps.asking.attempts`` tries at most.

    LOCKED has said so ("too many wrong PINs")."""
    for attempt in range(1, deps.asking.attempts + 1):
        if await locked_out(session, deps, subject):
            return PinCheck.LOCKED
        pin = await read_pin(session, deps, prompt)
        # PBKDF2 is CPU work: in a thread, so the other calls' IVRs keep running meanwhile
        right = PIN.match(pin) is not None and await asyncio.to_thread(check, pin)
        checked = await try_pin(session, deps, subject, right=right, attempt=attempt)
        if checked is not PinCheck.WRONG:
            return checked
        if attempt < deps.asking.attempts:
            await announce(session, ["cc/pin-wrong"])
    return PinCheck.WRONG


async def choose_pin(session: AGISession, deps: FlowDeps) -> str | None:
    """Have the caller key a new PIN twice; its hash, or None if they never keyed the same valid PIN twice."""
    for _ in range(deps.asking.attempts):
        first = await read_pin(session, deps, "cc/choose-pin")
        if not PIN.match(first):
            await announce(session, ["cc/invalid" if first else "cc/no-input"])
            continue
        if await read_pin(session, deps, "cc/repeat-pin") == first:
            return await asyncio.to_thread(hash_client_pin, first)
        await announce(session, ["cc/pin-mismatch"])
    log.info("pin_not_chosen")
    return None
