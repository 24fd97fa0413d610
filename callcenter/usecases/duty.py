"""Agents going on and off duty: log in, pause with a reason, resume, log out.

The store is written first, then Asterisk's queue members follow (the ``PresencePush``, ``QueueSync.apply``): a
change an agent was told about is never lost, even if AMI is down at that moment (the resync after the
reconnect applies it), and it survives restarts of the service and of Asterisk.

Reading duty (``DutyBook``) needs only the store, so the queue sync can read it without holding the use case
that writes it (``AgentDuty``), and the use case can push to the queue sync: no cycle.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from callcenter.domain.agents import Duty, duty_of, with_initial
from callcenter.store import AgentPresence, PresenceState
from callcenter.store.api import PresenceStore
from callcenter.usecases.ports import Clock, PresencePush

log = structlog.get_logger(__name__)


class DutyBook:
    """Each agent's stored presence; an agent who never chose one has the configured initial state."""

    def __init__(self, store: PresenceStore, initial: PresenceState) -> None:
        self.store = store
        self.initial = initial

    async def current(self, agent_ids: Sequence[str]) -> dict[str, AgentPresence]:
        return with_initial(await self.store.get_presence(agent_ids), agent_ids, self.initial)

    async def duties(self, agent_ids: Sequence[str]) -> dict[str, Duty]:
        return {i: duty_of(p) for i, p in (await self.current(agent_ids)).items()}


class AgentDuty:
    def __init__(self, book: DutyBook, push: PresencePush, clock: Clock) -> None:
        self.book = book
        self.push = push
        self.clock = clock

    async def current(self, agent_ids: Sequence[str]) -> dict[str, AgentPresence]:
        return await self.book.current(agent_ids)

    async def change(
        self, agent_id: str, state: PresenceState, reason: str | None = None, *, actor: str, via: str
    ) -> AgentPresence:
        presence = await self.book.store.set_presence(agent_id, state, reason, actor=actor, via=via, now=self.clock())
        log.info("agent_presence_changed", agent=agent_id, state=state, reason=reason, via=via)
        await self.push.apply(agent_id, duty_of(presence))
        return presence
