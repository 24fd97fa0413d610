"""What the use cases need from the world, as small protocols: each front end (the IVR in the service, the CLI in a
process of its own, later a web console) plugs in what it has."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Literal, Protocol

from callcenter.domain.agents import Duty
from callcenter.domain.waits import AgentLoad
from callcenter.store import Direction, Evaluation

Clock = Callable[[], datetime]
# an AMI user event: its name and its "Key: value" fields (the IVR sends it from the call's channel)
EmitEvent = Callable[[str, Sequence[str]], Awaitable[None]]
# each agent's penalty in the shared queues, from callers' ratings of them
PenaltyOf = Callable[[Sequence[str]], Awaitable[Mapping[str, int]]]
# each agent's duty (logged in, paused), from the store's presence
DutyOf = Callable[[Sequence[str]], Awaitable[Mapping[str, Duty]]]
# each agent's recent talk times in seconds, oldest first (their handle time at start: expected waits)
TalkTimesOf = Callable[[Sequence[str]], Awaitable[Mapping[str, Sequence[float]]]]


def utcnow() -> datetime:
    return datetime.now(UTC)


class PenaltyPush(Protocol):
    """Tells Asterisk that an agent's ratings changed, so their penalty in the shared queues follows.

    In the service: ``QueueSync.agent_rated`` (a background push over the service's AMI link, the caller never
    waits). In the CLI: ``ami.queues.PenaltyPushOnce`` (its own short AMI login, see there why)."""

    async def agent_rated(self, agent_id: str) -> None: ...


class LoadWatch(Protocol):
    """Told whenever an agent's own-queue load may have moved (free, busy, away): ``QueueSync`` tells the kept
    ranking (``usecases/rankings.py``), so offers walk only the free or the busy, never the whole roster."""

    def load_changed(self, agent_id: str, load: AgentLoad | None) -> None: ...


class NoWatch:
    """Nobody follows the loads (the CLI, tests of the queue sync alone)."""

    def load_changed(self, agent_id: str, load: AgentLoad | None) -> None:
        return None


class PresencePush(Protocol):
    """Makes Asterisk's queue members follow an agent's stored duty (``QueueSync.apply``)."""

    async def apply(self, agent_id: str, duty: Duty) -> None: ...


class RatingWrites(Protocol):
    """Where ratings are written: the IVR's write-behind ``Recorder`` (None: journaled, written later), or the
    store itself (``DirectWrites``: an error is the front end's to report)."""

    async def record_evaluation(
        self, call: str, direction: Direction, scores: Mapping[str, int], actor: str, now: datetime
    ) -> Evaluation | None: ...
    async def delete_evaluation(
        self, call: str, direction: Direction, actor: str, reason: str, now: datetime
    ) -> Evaluation | None: ...
    # whether the call has a rating write (of ``kind``) waiting in the journal
    def waiting(self, call: str, kind: Literal["rating", "unrate"] | None = None) -> bool: ...
