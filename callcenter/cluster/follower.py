"""What this node does with another node's news (``cluster/bus.py``): its own Asterisk follows.

- ``rated``: the agent's ranking is read again and their penalty pushed to this node's shared queues;
- ``duty``: the agent's presence is read from the store and this node's members follow (QueueAdd/Pause/Remove);
- ``reserved``: the agent is ringing or talking for a call of another node: their device state here says INUSE,
  so this node's app_queue does not ring them (the store would refuse it anyway: this only saves the try);
- ``released``: free again here, unless the store says a call holds them still (the news may be late);
- ``reconcile`` (each heartbeat, ``cluster/keeper.py``): the same from the store's live reservations, for what no
  news says: a lease that ran out because its node's service died, a dead node's agents freed by the reaper, news
  lost while the listening connection was down;
- ``resync``: everything compared once (after the listening connection came back, and every resync_seconds).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import structlog

from callcenter.ami.link import AMIError, AMILink
from callcenter.ami.queues import QueueSync
from callcenter.domain import naming
from callcenter.store.api import ReservationStore
from callcenter.usecases.duty import DutyBook
from callcenter.usecases.ports import Clock

log = structlog.get_logger(__name__)


class RankingFollows(Protocol):
    async def agent_rated(self, agent_id: str) -> None: ...
    async def refresh(self) -> None: ...


class ClusterFollower:
    def __init__(
        self,
        *,
        ranking: RankingFollows,
        queues: QueueSync,
        duty: DutyBook,
        reservations: ReservationStore,
        ami: AMILink,
        clock: Clock,
        node: str,
    ) -> None:
        self.ranking = ranking
        self.queues = queues
        self.duty = duty
        self.reservations = reservations
        self.ami = ami
        self.clock = clock
        self.node = node
        # agents this node shows INUSE because another node's call holds them
        self.mirrored: set[str] = set()

    async def heard(self, kind: str, agent_id: str) -> None:
        if agent_id not in self.queues.agents:
            return
        if kind == "rated":
            await self.ranking.agent_rated(agent_id)
            await self.queues.agent_rated(agent_id)
        elif kind == "duty":
            duty = (await self.duty.duties([agent_id]))[agent_id]
            await self.queues.apply(agent_id, duty)
        elif kind == "reserved":
            self.mirrored.add(agent_id)
            await self._device_state(agent_id, "INUSE")
        elif kind == "released" and await self.reservations.reservation_of(agent_id, self.clock()) is None:
            self.mirrored.discard(agent_id)
            await self._device_state(agent_id, "NOT_INUSE")

    async def reconcile(self, live: Mapping[str, str]) -> None:
        """``live``: every agent held now and by which node. Agents held elsewhere show INUSE here, the ones this
        node mirrored and nobody holds any more are free again; this node's own are its dialplan's."""
        for agent_id, holder in live.items():
            if holder != self.node and agent_id not in self.mirrored and agent_id in self.queues.agents:
                self.mirrored.add(agent_id)
                await self._device_state(agent_id, "INUSE")
        for agent_id in sorted(self.mirrored):
            held_by = live.get(agent_id)
            if held_by is None:
                self.mirrored.discard(agent_id)
                await self._device_state(agent_id, "NOT_INUSE")
            elif held_by == self.node:
                self.mirrored.discard(agent_id)

    async def _device_state(self, agent_id: str, state: str) -> None:
        if not self.ami.connected:
            return  # the resync after the reconnect reads the members' states again
        try:
            await self.ami.send(
                {"Action": "Setvar", "Variable": f"DEVICE_STATE({naming.custom_state(agent_id)})", "Value": state}
            )
        except AMIError as exc:
            log.warning("cluster_device_state_not_set", agent=agent_id, state=state, error=str(exc))

    async def resync(self) -> None:
        await self.ranking.refresh()
        if self.ami.connected:
            await self.queues.resync()
