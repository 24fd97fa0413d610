"""Which call may ring an agent, across every node of a cluster: one call at a time, decided by the store.

app_queue is per node and ``ringinuse=no`` is not atomic even on one: two nodes (or two callers on one) can ring the
same free agent. Before cc-agent-offer dials the agent's phone, the call reserves the agent in the store with a
compare-and-set and a lease (``store/sql/reservations.py``); a call that loses is a busy member to app_queue, which
tries its next. The reservation lasts through the screening and the talk time (this node's heartbeat renews its
leases, ``cluster/keeper.py``) and ends when the member's leg hangs up; a node that dies holds nothing longer than
one lease. The other nodes are told at once (``cluster/bus.py``) so their app_queue does not even try the agent.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol

import structlog

from callcenter.store.api import ReservationStore
from callcenter.usecases.ports import Clock

log = structlog.get_logger(__name__)


class ReservationNews(Protocol):
    """Tells the other nodes an agent was taken or freed (``cluster/bus.py``)."""

    async def reserved(self, agent_id: str) -> None: ...
    async def released(self, agent_id: str) -> None: ...


class AgentArbiter:
    def __init__(
        self, store: ReservationStore, node: str, lease: timedelta, clock: Clock, news: ReservationNews
    ) -> None:
        self.store = store
        self.node = node
        self.lease = lease
        self.clock = clock
        self.news = news

    async def reserve(self, agent_id: str, call: str) -> bool:
        """True: ``call`` holds ``agent_id`` now and may ring them; False: another call does."""
        held = await self.store.reserve_agent(agent_id, call, self.node, self.clock(), self.lease)
        log.info("agent_reserved" if held else "agent_reservation_refused", agent=agent_id, call=call)
        if held:
            await self.news.reserved(agent_id)
        return held

    async def release(self, agent_id: str, call: str) -> None:
        released = await self.store.release_agent(agent_id, call, self.node, self.clock())
        log.info("agent_released", agent=agent_id, call=call, held=released)
        if released:
            await self.news.released(agent_id)
