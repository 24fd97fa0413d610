"""Keying in PINs. Never with ``Read()`` or ``ask``: Read() logs "User entered '1234'" in Asterisk's verbose log
and leaves the digits in a channel variable, and ``ask`` logs the keys pressed. AGI's GET DATA keeps them between
Asterisk and us. Every PIN is 4-8 digits ending with # (or a pause), so a habitual # after the last digit is
never left over for the next menu. Three wrong tries end the attempt (the flows then say goodbye)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

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


async def verify_pin(session: AGISession, deps: FlowDeps, prompt: str, check: Callable[[str], bool]) -> bool:
    """Ask for a PIN until ``check`` accepts it; False after ``deps.asking.attempts`` wrong or empty tries."""
    for attempt in range(1, deps.asking.attempts + 1):
        pin = await read_pin(session, deps, prompt)
        # PBKDF2 is CPU work: in a thread, so the other calls' IVRs keep running meanwhile
        if PIN.match(pin) is not None and await asyncio.to_thread(check, pin):
            log.info("pin_accepted", attempt=attempt)
            return True
        log.warning("pin_rejected", attempt=attempt, empty=not pin)
        if attempt < deps.asking.attempts:
            await say(session, ["cc/pin-wrong"])
    return False


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
