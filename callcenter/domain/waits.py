"""How long a caller would wait for one agent, and when an agent's own queue is too full to offer: pure arithmetic
on what the queue state says (callers waiting, the call in progress, the agent's recent handle time).

An agent serves their own queue alone, one caller at a time, so a new caller's expected wait is what is left of
the call in progress plus one whole handle time per caller ahead of them:
    wait = remaining(current call) + waiting * handle
The handle time is an exponentially weighted moving average (EWMA) of the agent's recent talk times (their mean
over the first few): one long call moves it, it does not take it over, and a change of pace shows within a few
calls.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

# weight of the newest talk time in the EWMA: about the last 5 calls carry 80 % of it
HANDLE_ALPHA = 0.3
# a call that already outlasted the agent's handle time is still expected to take a little longer (a quarter of
# a handle time), never to end this very second: "less than a minute" would be a promise nobody keeps
MIN_REMAINING_SHARE = 0.25
# how finely waits are spoken: whole minutes, up to this many; beyond it "more than 30 minutes"
MAX_SPOKEN_MINUTES = 30


@dataclass(frozen=True, slots=True)
class QueueLimits:
    """When an agent's own queue counts as full ([journey] max_waiting, max_wait_seconds; 0 = no limit)."""

    max_waiting: int = 2
    max_wait_seconds: float = 600.0

    def __post_init__(self) -> None:
        if self.max_waiting < 0 or not math.isfinite(self.max_wait_seconds) or self.max_wait_seconds < 0:
            raise ValueError("max_waiting and max_wait_seconds must not be negative (0: no limit)")


@dataclass(frozen=True, slots=True)
class AgentLoad:
    """What an offer says about one agent's own queue, for the next caller."""

    # free now and nobody waiting for them: the call rings at once
    free: bool
    # callers waiting for this agent (in their own queues, or on their way there)
    waiting: int
    # the next caller's expected wait in seconds (0 for a free agent)
    wait_seconds: float


@dataclass(frozen=True, slots=True)
class HandleTime:
    """An agent's recent handle time and how many talk times it has seen."""

    seconds: float
    calls: int


def ewma(previous: HandleTime | None, sample: float, alpha: float = HANDLE_ALPHA) -> HandleTime:
    """The moving average after one more talk time. Until it has seen 1 / alpha calls it is their plain mean (the
    weight of the newest is 1/n): a plain EWMA would keep the very first call's weight far above alpha, so an
    agent's first long call would say their wait for weeks."""
    if sample < 0 or not math.isfinite(sample):
        raise ValueError(f"a talk time is a number of seconds, not {sample!r}")
    if previous is None:
        return HandleTime(sample, 1)
    calls = previous.calls + 1
    weight = max(alpha, 1 / calls)
    return HandleTime(previous.seconds + weight * (sample - previous.seconds), calls)


def handle_time(samples: Iterable[float], alpha: float = HANDLE_ALPHA) -> HandleTime | None:
    """The moving average of ``samples`` (oldest first); None for an agent who has no answered call yet."""
    value: HandleTime | None = None
    for sample in samples:
        value = ewma(value, sample, alpha)
    return value


def remaining(handle: float, elapsed: float) -> float:
    """What is left of a call that has lasted ``elapsed`` seconds, for an agent whose calls take ``handle``."""
    return max(handle - max(elapsed, 0.0), handle * MIN_REMAINING_SHARE)


def load(*, member_free: bool, waiting: int, handle: float, current: float | None) -> AgentLoad:
    """An agent's load from their queue member state, the callers waiting for them and the call in progress.

    ``member_free``: Asterisk shows them free (not ringing, not on a call); ``current``: the seconds left of the
    call they are on (``remaining``), None when they are not on one. A free member with a caller waiting (just
    enqueued, not yet rung) is taken: the next caller would wait behind that one.
    """
    if waiting < 0:
        raise ValueError("callers waiting cannot be negative")
    return AgentLoad(
        free=member_free and waiting == 0,
        waiting=waiting,
        wait_seconds=(current or 0.0) + waiting * handle,
    )


def is_full(agent: AgentLoad, limits: QueueLimits) -> bool:
    """Too many callers waiting, or too long a wait, to offer this agent to one more caller."""
    if agent.free:
        return False
    if limits.max_waiting and agent.waiting >= limits.max_waiting:
        return True
    return bool(limits.max_wait_seconds) and agent.wait_seconds > limits.max_wait_seconds


Offering = Literal["free", "wait", "full", "away"]


def offering(agent: AgentLoad | None, limits: QueueLimits) -> Offering:
    """How an agent is offered: among the free agents (rings at once), among those with a wait (key 7, the wait
    said), not at all because their own queue is full, or not at all because they cannot be reached (None: logged
    out, paused, their phone unavailable). A full queue is never offered as free, nor as a wait worth taking."""
    if agent is None:
        return "away"
    if agent.free:
        return "free"
    return "full" if is_full(agent, limits) else "wait"


def spoken_minutes(seconds: float) -> int:
    """A wait as the caller hears it: 0 for "less than a minute", else whole minutes (rounded, at least 1), up to
    ``MAX_SPOKEN_MINUTES + 1`` for "more than 30 minutes"."""
    if seconds < 0 or math.isnan(seconds):
        raise ValueError("a wait cannot be negative")
    if seconds < 60:
        return 0
    if seconds > MAX_SPOKEN_MINUTES * 60:
        return MAX_SPOKEN_MINUTES + 1
    return max(1, round(seconds / 60))
