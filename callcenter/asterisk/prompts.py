"""Spoken prompts the stock sound set lacks, generated with espeak-ng + sox as 8 kHz mono 16-bit WAV.

They go into the root's English sound directory under ``cc/`` (played as ``cc/<name>``), are shared by every
instance of the root, and are regenerated only when their text changes (a ``.txt`` beside each file).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

import structlog

from callcenter.config import Config
from callcenter.domain.agents import AgentSpec

log = structlog.get_logger(__name__)

# The real directory behind sounds/en (a symlink through /etc/alternatives that only resolves inside the root).
SOUND_DIR = "usr/share/asterisk/sounds/en_US_f_Allison/cc"

PROMPTS: Mapping[str, str] = {
    "welcome": "Welcome to the call center.",
    "technical-difficulty": "We are sorry, our service has a technical problem right now. Please call again later.",
    "fallback-hold": "Our menu is not available right now. Please hold for the first available agent.",
    "goodbye": "Thank you for calling. Goodbye.",
    "choose-service": "Please choose a service.",
    "press": "Press",
    "for": "for",
    "is-new": "who is new here.",
    "rated": "rated",
    "point": "point",
    "grade": "grade",
    "from": "from",
    "rating": "rating.",
    "ratings": "ratings.",
    "ranked-by": "Agents ranked by",
    "overall-score": "overall score.",
    "first-available": "for the first available agent.",
    "more-agents": "for more agents.",
    "to-rank-by": "to rank agents by",
    "to-repeat": "to hear this again.",
    "on-a-call": "for agents who are on a call now.",
    "free-agents": "for the agents who are free now.",
    "busy-agents": "These agents are on a call now. You can wait for one of them.",
    "invalid": "Sorry, that is not a valid choice.",
    "no-input": "We did not hear your choice.",
    "no-agents": "Sorry, no agent can take calls for this service right now.",
    "connecting": "Please hold for",
    "shared-queue": "Please hold for the first available agent.",
    "leave-queue": "While you wait, press 1 to choose another agent.",
    "declined": "cannot take your call right now.",
    "not-answering": "is not answering right now.",
    "caller-anonymous": "Incoming call from a caller with a withheld number.",
    "caller-new": "Incoming call from a new caller.",
    "caller-rated": "Incoming call from a caller rated",
    "accept-decline": "Press 1 to accept the call, or 2 to decline it.",
    "please-rate": "Please rate",
    "the-caller": "the caller.",
    "one-digit-each": "Enter one digit from 1 to 5 for each of:",
    "star-to-skip": "Or press star to skip.",
    "you-rated": "You rated",
    "thank-you": "Thank you.",
    "not-rated": "Your rating was not saved.",
    "unrated-call": "You have an unrated call with",
    "rate-now": "Press 1 to rate it now, 2 to review all your ratings, or any other key to continue.",
    # self-service: callers
    "manage-ratings": "To review or change your ratings of our agents,",
    "anonymous-no-ratings": "Your number is withheld, so we cannot find your ratings. Please call from a number "
    "that is not withheld.",
    "enter-pin": "Please enter your PIN, then press pound.",
    "pin-wrong": "That PIN is not correct.",
    "pin-goodbye": "The PIN was not correct three times. For your security, nothing was changed. Goodbye.",
    "pin-locked": "Too many wrong PINs were keyed. For your security, please try again later.",
    "offer-pin": "You can protect your ratings with a PIN. Press 1 to choose one now, or 2 to continue without.",
    "choose-pin": "Please choose a PIN of 4 to 8 digits, then press pound.",
    "repeat-pin": "Please enter the same PIN again, then press pound.",
    "pin-mismatch": "The two PINs were different.",
    "pin-saved": "Your PIN is saved. You will need it next time.",
    "pin-required": "Your ratings must be protected by a PIN before you can change them.",
    "no-calls-to-review": "There are no calls to review.",
    "call": "Call",
    "of": "of",
    "with": "with",
    "your-rating": "Your rating:",
    "not-rated-yet": "Not rated yet.",
    "to-rate": "to rate this call.",
    "to-change": "to change your rating.",
    "to-delete": "to delete it.",
    "for-next": "for the next call.",
    "for-previous": "for the previous call.",
    "to-finish": "to finish.",
    "rating-frozen": "This call is too old: its rating can no longer be changed.",
    "too-short": "This call was too short to be rated.",
    "rating-removed": "An operator removed this rating. It cannot be changed.",
    "confirm-delete": "To delete your rating, press 7 again. Any other key keeps it.",
    "rating-deleted": "Your rating is deleted.",
    "rating-kept": "Your rating is kept.",
    # self-service: agents
    "caller-ending": "the caller whose number ends in",
    "enter-agent-id": "Please enter your agent number, then press pound.",
    "enter-agent-pin": "Please enter your PIN, then press pound.",
    "login-failed": "Sorry, that agent number or PIN is not correct.",
    "login-goodbye": "For your security, this call ends now. Goodbye.",
    "agent-logged-out": "You are logged out.",
    "agent-available": "You are logged in and available for calls.",
    "agent-paused": "You are paused for",
    "to-log-in": "to log in.",
    "to-pause": "to pause.",
    "to-resume": "to resume taking calls.",
    "to-log-out": "to log out.",
    "to-review-callers": "to review the callers you served.",
    "choose-pause-reason": "Why are you pausing?",
    "agent-goodbye": "Goodbye.",
}


def roster_prompts(
    agents: Sequence[tuple[str, str]],
    services: Sequence[tuple[str, str]],
    categories: Sequence[tuple[str, str]],
    pause_reasons: Sequence[str] = (),
) -> dict[str, str]:
    """Names the IVR speaks: agent-<id>, service-<id>, cat-<id>, from (id, spoken text) pairs; reason-<reason>."""
    prompts = {f"agent-{i}": name for i, name in agents}
    prompts |= {f"service-{i}": name for i, name in services}
    prompts |= {f"cat-{i}": label for i, label in categories}
    prompts |= {"reason-" + r.replace(" ", "-"): r for r in pause_reasons}
    return prompts


def all_prompts(config: Config, agents: Sequence[AgentSpec]) -> dict[str, str]:
    """Every prompt this call center speaks: the fixed ones and those the config and the roster name."""
    return {
        **PROMPTS,
        **roster_prompts(
            [(a.id, a.name) for a in agents],
            [(s.id, s.name) for s in config.services],
            [(c.id, c.label) for c in config.categories],
            config.agents.pause_reasons,
        ),
    }


class PromptError(Exception):
    """A prompt could not be generated; the message says which tool is missing."""


def sound_dir(root: Path) -> Path:
    return root / SOUND_DIR


async def ensure_prompts(root: Path, prompts: Mapping[str, str] = PROMPTS) -> int:
    """Generate every prompt whose file is missing or whose text changed; return how many were made."""
    target = sound_dir(root)
    target.mkdir(parents=True, exist_ok=True)
    todo = {name: text for name, text in prompts.items() if _stale(target, name, text)}
    if not todo:
        return 0
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            raise PromptError(f"{tool} is not installed: `apt-get install espeak-ng sox` (see .ci/run)")
    for name, text in todo.items():
        await _generate(target, name, text)
    log.info("prompts_generated", count=len(todo), directory=str(target))
    return len(todo)


def _stale(target: Path, name: str, text: str) -> bool:
    sidecar = target / f"{name}.txt"
    return not (target / f"{name}.wav").exists() or not sidecar.exists() or sidecar.read_text() != text


async def _generate(target: Path, name: str, text: str) -> None:
    # unique temporary names and a rename at the end: another instance sharing the root (a second test run)
    # never plays a half-written file
    tag = f"{os.getpid()}-{secrets.token_hex(4)}"
    raw, final = target / f"{name}.{tag}.raw.wav", target / f"{name}.{tag}.wav"
    try:
        await _run("espeak-ng", "-v", "en-us", "-s", "160", "-w", str(raw), text)
        # Asterisk's .wav reader wants 8 kHz mono 16-bit PCM
        await _run("sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(final))
        final.replace(target / f"{name}.wav")
        (target / f"{name}.txt").write_text(text)
    finally:
        raw.unlink(missing_ok=True)
        final.unlink(missing_ok=True)


async def _run(*args: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    async with asyncio.timeout(60):
        _, err = await proc.communicate()
    if proc.returncode != 0:
        raise PromptError(f"{args[0]} failed: {err.decode(errors='replace').strip()}")
