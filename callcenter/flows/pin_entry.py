"""Keying in PINs and agent numbers. Never through ``ask``: its log lines carry the keys pressed, and a PIN
must not reach any log. Three wrong tries end the attempt (the flows then say goodbye)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from callcenter.agi import AGISession
from callcenter.flows import speech
from callcenter.flows.ask import read_keys, say
from callcenter.flows.deps import FlowDeps
from callcenter.pins import hash_client_pin

log = structlog.get_logger(__name__)

MAX_PIN = 8  # the longest PIN anyone has (roster: 4-8 digits); Read() stops early at #


async def verify_pin(
    session: AGISession, deps: FlowDeps, prompt: str, check: Callable[[str], bool], *, max_digits: int = MAX_PIN
) -> bool:
    """Ask for a PIN until ``check`` accepts it; False after ``deps.asking.attempts`` wrong or empty tries."""
    for attempt in range(1, deps.asking.attempts + 1):
        pin = await read_keys(session, [prompt], max_digits, deps.asking.timeout, pound_ends=True)
        # PBKDF2 is CPU work: in a thread, so the other calls' IVRs keep running meanwhile
        if pin.isdigit() and await asyncio.to_thread(check, pin):
            log.info("pin_accepted", attempt=attempt)
            return True
        log.warning("pin_rejected", attempt=attempt, empty=not pin)
        if attempt < deps.asking.attempts:
            await say(session, ["cc/pin-wrong"])
    return False


async def choose_pin(session: AGISession, deps: FlowDeps, length: int) -> str | None:
    """Have the caller key a new PIN twice; its hash, or None if they never keyed the same PIN twice."""
    prompt = ["cc/choose-pin", *speech.number(length), "cc/digits"]
    for _ in range(deps.asking.attempts):
        first = await read_keys(session, prompt, length, deps.asking.timeout, pound_ends=True)
        if len(first) != length or not first.isdigit():
            await say(session, ["cc/no-input" if not first else "cc/invalid"])
            continue
        second = await read_keys(session, ["cc/repeat-pin"], length, deps.asking.timeout, pound_ends=True)
        if second == first:
            return await asyncio.to_thread(hash_client_pin, first)
        await say(session, ["cc/pin-mismatch"])
    log.info("pin_not_chosen")
    return None
