"""Spoken prompts the stock sound set lacks, generated with espeak-ng + sox as 8 kHz mono 16-bit WAV.

They go into the root's English sound directory under ``cc/`` (played as ``cc/<name>``), are shared by every
instance of the root, and are regenerated only when their text changes (a ``.txt`` beside each file).

The caller's agent and service menus are read in full before a silent caller gets the default, so they are built
from ``MENU_PROMPTS``: whole phrases ("Press 1 for", "rated 4 point 5,", "about 3 minutes wait.") rather than
one file per word, with espeak's leading and trailing silence cut (it pads every file with about 0.35 s) and
spoken at 170 words a minute instead of 160. The older prompts stay as they were: their names and sound are
shared with every checkout using the same root.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import structlog

from callcenter.config import Config
from callcenter.domain.agents import AgentSpec
from callcenter.domain.waits import MAX_SPOKEN_MINUTES

log = structlog.get_logger(__name__)

# sox effects that cut the silence before and after the speech (below 0.3 % of full scale for 20 ms), then leave
# 0.1 s after it, so phrases played one after another keep a short, even pause between them
TRIM_EFFECTS = ("silence", "1", "0.02", "0.3%", "reverse", "silence", "1", "0.02", "0.3%", "reverse", "pad", "0", "0.1")
# ...and spoken a little faster than the older prompts (160 words a minute): still a calm pace, 5 % shorter menus
MENU_RATE = "170"
TRIM_MARK = f"(silence trimmed, {MENU_RATE} wpm)"

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
    # rating on the web instead of the keypad (callcenter/web/): a one-time code for the sign-in page
    "web-code-is": "Your code for rating on the web is",
    "web-code-again": "Once more, your code is",
    "web-code-use": "Sign in on our web page with your phone number and this code. It works once, for ten minutes.",
    "web-code-failed": "We cannot give you a code for the web right now. Please try again later.",
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


def _minutes(n: int) -> str:
    return "1 minute" if n == 1 else f"{n} minutes"


def _menu_prompts() -> dict[str, str]:
    """The short menus' phrases (see the module's docstring); their names are speech.py's."""
    prompts = {
        "press-0": "Press 0",
        "free-now": "free now.",
        "new-here": "new here,",
        "on-call": "on a call,",
        "callers-waiting": "waiting,",
        "no-free": "No agent is free right now.",
        "opt-busy": "7 for busy agents.",
        "opt-free": "7 for free agents.",
        "opt-more": "9 for more.",
        "opt-details": "pound for details.",
        "opt-short": "pound for the short list.",
        "opt-rank": "8 to rank by",
        "opt-rank-overall": "8 to rank by overall score.",
        "opt-repeat": "star to repeat.",
        "or-hold-agent": "Press a key, or hold for the first available agent.",
        "or-hold-for": "Press a key, or hold for",
        "opt-review": "Press 9 to review your ratings.",
        "opt-web-code": "Press star for a code to rate on the web.",
        "not-free-now": "is not free any more.",
        "queue-full": "has too many callers waiting now.",
        "wait-0": "less than a minute.",
        f"wait-{MAX_SPOKEN_MINUTES + 1}": f"more than {MAX_SPOKEN_MINUTES} minutes.",
    }
    # keys 1..6 name the agents of a page (JourneyConfig.offer_count is at most 6), 1..8 the services
    prompts |= {f"key-{k}": f"Press {k} for" for k in range(1, 9)}
    # the keys after the first in a list: "Press 1 for Alice, ..., 2 for Carol, ..."
    prompts |= {f"then-{k}": f"{k} for" for k in range(1, 9)}
    prompts |= {f"grade-{g.lower()}": f"grade {g}." for g in "ABCDE"}
    prompts |= {f"wait-{n}": f"about {_minutes(n)}." for n in range(1, MAX_SPOKEN_MINUTES + 1)}
    prompts |= {f"waiting-{n}": f"{n} waiting," for n in range(1, 10)}
    # every score a caller can hear: 1.0 to 5.0 in tenths (policy.spoken_score)
    for tenths in range(10, 51):
        whole, tenth = divmod(tenths, 10)
        prompts[f"rated-{whole}-{tenth}"] = f"rated {whole} point {tenth},"
        prompts[f"score-{whole}-{tenth}"] = f"{whole} point {tenth},"
    return prompts


MENU_PROMPTS: Mapping[str, str] = _menu_prompts()
# generated with their silence trimmed (see the module's docstring)
TRIMMED: frozenset[str] = frozenset(MENU_PROMPTS)


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
        **MENU_PROMPTS,
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


async def ensure_prompts(root: Path, prompts: Mapping[str, str] = PROMPTS, trimmed: Collection[str] = TRIMMED) -> int:
    """Generate every prompt whose file is missing or whose text changed; return how many were made. Those named
    in ``trimmed`` lose espeak's leading and trailing silence."""
    target = sound_dir(root)
    target.mkdir(parents=True, exist_ok=True)
    todo = {
        name: _sidecar(text, trim=name in trimmed)
        for name, text in prompts.items()
        if _stale(target, name, _sidecar(text, trim=name in trimmed))
    }
    if not todo:
        return 0
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            raise PromptError(f"{tool} is not installed: `apt-get install espeak-ng sox` (see .ci/run)")
    for name, sidecar in todo.items():
        await _generate(target, name, prompts[name], sidecar, trim=name in trimmed)
    log.info("prompts_generated", count=len(todo), directory=str(target))
    return len(todo)


def _sidecar(text: str, *, trim: bool) -> str:
    """What the .txt beside a prompt says: its text, and how it was made when that is not the plain way (a recipe
    change regenerates the file like a text change)."""
    return f"{text}\n{TRIM_MARK}" if trim else text


def _stale(target: Path, name: str, sidecar_text: str) -> bool:
    sidecar = target / f"{name}.txt"
    return not (target / f"{name}.wav").exists() or not sidecar.exists() or sidecar.read_text() != sidecar_text


async def _generate(target: Path, name: str, text: str, sidecar: str, *, trim: bool) -> None:
    # unique temporary names and a rename at the end: another instance sharing the root (a second test run)
    # never plays a half-written file
    tag = f"{os.getpid()}-{secrets.token_hex(4)}"
    raw, final = target / f"{name}.{tag}.raw.wav", target / f"{name}.{tag}.wav"
    try:
        await _run("espeak-ng", "-v", "en-us", "-s", MENU_RATE if trim else "160", "-w", str(raw), text)
        # Asterisk's .wav reader wants 8 kHz mono 16-bit PCM
        await _run("sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(final), *(TRIM_EFFECTS if trim else ()))
        final.replace(target / f"{name}.wav")
        (target / f"{name}.txt").write_text(sidecar)
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
