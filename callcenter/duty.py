"""Agents going on and off duty: log in, pause with a reason, resume, log out.

The store is written first, then Asterisk's queue members follow (``QueueSync.apply``): a change an agent was
told about is never lost, even if AMI is down at that moment (the resync after the reconnect applies it), and
it survives restarts of the service and of Asterisk.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

import structlog

from callcenter.ami.queues import Duty, QueueSync
from callcenter.store import AgentPresence, PresenceState, Store

log = structlog.get_logger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def with_initial(
    stored: Mapping[str, AgentPresence], agent_ids: Sequence[str], initial: PresenceState
) -> dict[str, AgentPresence]:
    """Each agent's presence; an agent who never chose one has the configured initial state."""
    return {i: stored.get(i) or AgentPresence(i, initial, None, EPOCH, "initial") for i in agent_ids}


def duty_of(presence: AgentPresence) -> Duty:
    return Duty(logged_in=presence.state != "logged_out", paused=presence.state == "paused", reason=presence.reason)


class AgentDuty:
    def __init__(
        self,
        store: Callable[[], Store],
        queues: QueueSync,
        initial: PresenceState,
        clock: Callable[[], datetime],
    ) -> None:
        self._store = store
        self.queues = queues
        self.initial = initial
        self.clock = clock

    async def current(self, agent_ids: Sequence[str]) -> dict[str, AgentPresence]:
        """Each agent's presence; an agent who never chose one has the configured initial state."""
        return with_initial(await self._store().get_presence(agent_ids), agent_ids, self.initial)

    async def duties(self, agent_ids: Sequence[str]) -> dict[str, Duty]:
        return {i: duty_of(p) for i, p in (await self.current(agent_ids)).items()}

    async def change(
        self, agent_id: str, state: PresenceState, reason: str | None = None, *, actor: str, via: str
    ) -> AgentPresence:
        presence = await self._store().set_presence(agent_id, state, reason, actor=actor, via=via, now=self.clock())
        log.info("agent_presence_changed", agent=agent_id, state=state, reason=reason, via=via)
        await self.queues.apply(agent_id, duty_of(presence))
        return presence
