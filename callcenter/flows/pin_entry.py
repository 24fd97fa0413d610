"""Keying in PINs. Never with ``Read()`` or ``ask``: Read() logs "User entered '1234'" in Asterisk's verbose log
and leaves the digits in a channel variable, and ``ask`` logs the keys pressed. AGI's GET DATA keeps them between
Asterisk and us. Every PIN is 4-8 digits ending with # (or a pause), so a habitual # after the last digit is
never left over for the next menu. Three wrong tries end the attempt (the flows then say goodbye)."""

from __future__ import annotations

import asyncio
import enum
import re
from collections.abc import Callable
from datetime import timedelta

import structlog

from callcenter.agi import AGISession
from callcenter.flows.ask import say
from callcenter.flows.deps import FlowDeps
from callcenter.pins import hash_client_pin

log = structlog.get_logger(__name__)

MAX_PIN = 8
PIN = re.compile(r"^[0-9]{4,8}$")


async def read_pin(session: AGISession, deps: FlowDeps, prompt: str) -> str:
    """Play ``prompt`` (one sound file) and collect a PIN: up to 8 digits, # or a pause ends it."""
    keyed = await session.get_data(prompt, int(deps.asking.timeout * 1000), MAX_PIN)
    return keyed.digits


class PinCheck(enum.Enum):
    OK = "ok"
    WRONG = "wrong"  # wrong (or nothing) every try of this call
    LOCKED = "locked"  # too many wrong PINs lately, over any number of calls: not even asked


async def locked_out(session: AGISession, deps: FlowDeps, subject: str) -> bool:
    """``subject`` ('client:<id>', 'agent:<id>') keyed too many wrong PINs lately: say so; no PIN is taken now."""
    s = deps.selfservice
    if not s.pin_max_failures:
        return False
    since = deps.clock() - timedelta(minutes=s.pin_lockout_minutes)
    if await deps.store.pin_failures(subject, since) < s.pin_max_failures:
        return False
    log.warning("pin_locked_out", subject=subject, calling=session.env.callerid)
    await say(session, ["cc/pin-locked"])
    return True


async def pin_result(session: AGISession, deps: FlowDeps, subject: str, *, right: bool, attempt: int) -> None:
    """Count a PIN try: a right one clears the subject's failures, a wrong one adds one (and is logged, with the
    number it came from, for the operator who looks into a lockout; never the digits)."""
    if right:
        await deps.store.pin_succeeded(subject)
        log.info("pin_accepted", subject=subject, attempt=attempt)
        return
    await deps.store.pin_failed(subject, deps.clock())
    log.warning("pin_rejected", subject=subject, attempt=attempt, calling=session.env.callerid)


async def verify_pin(
    session: AGISession, deps: FlowDeps, prompt: str, check: Callable[[str], bool], *, subject: str
) -> PinCheck:
    """Ask for ``subject``'s PIN until ``check`` accepts it, for ``deps.asking.attempts`` tries at most."""
    for attempt in range(1, deps.asking.attempts + 1):
        if await locked_out(session, deps, subject):
            return PinCheck.LOCKED
        pin = await read_pin(session, deps, prompt)
        # PBKDF2 is CPU work: in a thread, so the other calls' IVRs keep running meanwhile
        right = PIN.match(pin) is not None and await asyncio.to_thread(check, pin)
        await pin_result(session, deps, subject, right=right, attempt=attempt)
        if right:
            return PinCheck.OK
        if attempt < deps.asking.attempts:
            await say(session, ["cc/pin-wrong"])
    return PinCheck.WRONG


async def choose_pin(session: AGISession, deps: FlowDeps) -> str | None:
    """Have the caller key a new PIN twice; its hash, or None if they never keyed the same valid PIN twice."""
    for _ in range(deps.asking.attempts):
        first = await read_pin(session, deps, "cc/choose-pin")
        if not PIN.match(first):
            await say(session, ["cc/invalid" if first else "cc/no-input"])
            continue
        if await read_pin(session, deps, "cc/repeat-pin") == first:
            return await asyncio.to_thread(hash_client_pin, first)
        await say(session, ["cc/pin-mismatch"])
    log.info("pin_not_chosen")
    return None
