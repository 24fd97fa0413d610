"""Asking the caller (or the agent) for keys: one prompt of many files, barge-in, re-prompt, then a default.

AGI's GET DATA plays a single file; a sentence here is a dozen files ("press 1 for Alice, rated 4 point 6 ...").
The dialplan application Read() plays an &-separated list and listens for keys during every one of them, so
a caller who knows what they want never has to sit through the whole menu.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog

from callcenter.agi import AGIHangup, AGISession, PlayTime
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
    # the wait for a key after a menu's short re-prompt (a caller who pressed nothing after its first pass)
    reprompt_timeout: float = 3.0


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
    reprompt: Sequence[str] | None = None,
) -> str | None:
    """Ask until the answer is ``valid``; None when the caller takes the default path.

    Invalid keys hear "not a valid choice" and the prompt again, up to ``asking.attempts`` tries in all. Silence
    hears "we did not hear your choice" and the prompt again; or, for a menu with a sane default, ``reprompt``:
    after a first pass with no key a caller hears the short ``reprompt`` ("press a key, or hold for the first
    available agent"), gets ``asking.reprompt_timeout`` to press one and, pressing nothing again, the default. A
    long menu read three times would keep a caller who cannot press keys from a human for minutes (issue 12: 3 x
    100 s). ``step`` names the question in the logs.
    """
    prompt, timeout = files, asking.timeout
    attempt = 0
    while True:
        attempt += 1
        keys = await read_keys(session, prompt, max_digits, timeout)
        if keys and valid(keys):
            log.info("keys_pressed", step=step, keys=keys, attempt=attempt)
            return keys
        log.info("keys_rejected", step=step, keys=keys, attempt=attempt)
        if not keys and reprompt is not None:
            if prompt is not files:
                break  # silent after the short re-prompt too
            prompt, timeout = reprompt, asking.reprompt_timeout
            continue
        if attempt >= asking.attempts:
            break
        await read_keys(session, [INVALID if keys else NO_INPUT], 1, 0.1)
        prompt, timeout = files, asking.timeout
    log.info("keys_default", step=step)
    return None


def silent_seconds(files: Sequence[str], asking: Asking, sounds: PlayTime, reprompt: Sequence[str] | None) -> float:
    """How long a caller who presses nothing spends in ``ask(files, ..., reprompt=...)`` before its default: what
    each try plays plus its wait for a key (Asterisk's own overhead between commands aside). Pure."""
    first = sounds.seconds(files) + asking.timeout
    if reprompt is not None:
        return first + sounds.seconds(reprompt) + asking.reprompt_timeout
    return asking.attempts * first + (asking.attempts - 1) * sounds.seconds([NO_INPUT])


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
