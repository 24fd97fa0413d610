"""Asking the caller (or the agent) for keys: one prompt of many files, barge-in, re-prompt, then a default.

AGI's GET DATA plays a single file; a sentence here is a dozen files ("press 1 for Alice, rated 4 point 6 ...").
The dialplan application Read() plays an &-separated list and listens for keys during every one of them, so
a caller who knows what they want never has to sit through the whole menu.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog

from callcenter.agi import AGIHangup, AGISession
from callcenter.domain import naming

log = structlog.get_logger(__name__)

DIGITS_VAR = naming.DIGITS
INVALID = "cc/invalid"
NO_INPUT = "cc/no-input"


@dataclass(frozen=True, slots=True)
class Asking:
    """How long to wait for keys and how often to ask again (from [journey] in the config)."""

    timeout: float = 6.0
    attempts: int = 3


# TIMEOUT(digit): Read()'s wait for each further key once the first came during an earlier prompt (the dialplan
# leaves it at Asterisk's default)
DIGIT_TIMEOUT = 5.0  # Asterisk 22 reads TIMEOUT(digit) as 5.000 on a fresh channel


def read_wait(max_digits: int, timeout: float) -> float:
    """The longest Read() waits for keys after its prompts: ``timeout`` for the first key, and for each further
    one ``timeout`` (keys after the last prompt) or TIMEOUT(digit) (the first key during an earlier prompt)."""
    return timeout + (max_digits - 1) * max(timeout, DIGIT_TIMEOUT)


async def read_keys(
    session: AGISession, files: Sequence[str], max_digits: int, timeout: float, *, pound_ends: bool = False
) -> str:
    """Play ``files`` and collect up to ``max_digits`` keys; "" when nothing was pressed.

    ``pound_ends``: # ends the input (PINs and agent numbers of varying length) instead of being a key.
    """
    if not files or any(("&" in f or "," in f or not f) for f in files):
        raise ValueError(f"sound file names must be non-empty, without '&' or ',': {files!r}")
    # Read(variable,filenames,maxdigits,options,attempts,timeout); option t() leaves Read no terminator, so # is
    # a key like any other ("# to finish" in the review and agent menus)
    options = "" if pound_ends else "t()"
    await session.exec(
        "Read",
        DIGITS_VAR,
        "&".join(files),
        str(max_digits),
        options,
        "1",
        f"{timeout:g}",
        timeout=session.media_deadline(files, read_wait(max_digits, timeout)),
    )
    status = await session.get_variable("READSTATUS")
    if status == "HANGUP":
        raise AGIHangup("the caller hung up during Read")
    return await session.get_variable(DIGITS_VAR) or ""


async def ask(
    session: AGISession,
    files: Sequence[str],
    valid: Callable[[str], bool],
    asking: Asking,
    *,
    max_digits: int = 1,
    step: str,
) -> str | None:
    """Ask until the answer is ``valid``; None after ``asking.attempts`` tries (the caller's default path).

    Invalid keys hear "not a valid choice", silence hears "we did not hear your choice"; both hear the prompt
    again. ``step`` names the question in the logs.
    """
    for attempt in range(1, asking.attempts + 1):
        keys = await read_keys(session, files, max_digits, asking.timeout)
        if keys and valid(keys):
            log.info("keys_pressed", step=step, keys=keys, attempt=attempt)
            return keys
        log.info("keys_rejected", step=step, keys=keys, attempt=attempt)
        if attempt < asking.attempts:
            await read_keys(session, [INVALID if keys else NO_INPUT], 1, 0.1)
    log.info("keys_default", step=step)
    return None


async def say(session: AGISession, files: Sequence[str]) -> None:
    """Play a sentence; a key pressed during it just ends it early (nothing waits for input afterwards)."""
    await read_keys(session, files, 1, 0.1)


async def announce(session: AGISession, files: Sequence[str]) -> None:
    """Play a sentence that no key interrupts and that collects no key (STREAM FILE without escape digits).

    For the sentences between PIN entries ("wrong PIN", "login failed"): a key typed during them is often a
    digit of the PIN or agent number, and Read() would write it to Asterisk's log ("User entered '7'").
    """
    for file in files:
        await session.stream_file(file)
