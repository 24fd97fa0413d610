"""What this node does with another node's news (``cluster/bus.py``): its own Asterisk follows.

- ``rated``: the agent's ranking is read again and their penalty pushed to this node's shared queues;
- ``duty``: the agent's presence is read from the store and this node's members follow (QueueAdd/Pause/Remove);
- ``reserved``: the agent is ringing or talking for a call of another node: their device state here says INUSE,
  so this node's app_queue does not ring them (the store would refuse it anyway: this only saves the try);
- ``released``: free again here, unless the store says a call holds them still (the news may be late);
- ``reconcile`` (each heartbeat, ``cluster/keeper.py``): the same from the store's live reservations against the
  members' states as Asterisk reports them, for what no news says: a lease that ran out because its node's service
  died, a dead node's agents freed by the reaper, news lost while a connection was down, a state Asterisk kept in
  its astdb across a restart;
- ``resync``: everything compared once (after the listening connection came back, and every resync_seconds).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Final, Protocol

import structlog

from callcenter.ami.link import AMIError, AMILink
from callcenter.ami.queues import OFFERABLE, QueueSync
from callcenter.domain import naming
from callcenter.store.api import ReservationStore
from callcenter.usecases.duty import DutyBook
from callcenter.usecases.ports import Clock

log = structlog.get_logger(__name__)

# app_queue member states (AST_DEVICE_*) of an agent who is rung or on a call: INUSE, BUSY, RINGING, RINGINUSE, ONHOLD
BUSY: Final = frozenset({2, 3, 6, 7, 8})
RESEND_SECONDS: Final = 5.0


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
        # the state last set by reconcile, and when (monotonic): not sent again every beat while Asterisk catches up
        self._sent: dict[str, tuple[str, float]] = {}

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
            await self._device_state(agent_id, "INUSE")
        elif kind == "released" and await self.reservations.reservation_of(agent_id, self.clock()) is None:
            await self._device_state(agent_id, "NOT_INUSE")

    async def reconcile(self, live: Mapping[str, str]) -> None:
        """``live``: every agent held now and by which node. Compared with each member's state as this node's
        Asterisk reports it (not with what this process remembers sending: Asterisk keeps custom device states in
        its astdb across restarts, and a state sent while AMI was down never arrived): an agent nobody holds who
        shows busy here is free again, an agent another node holds who shows free here is INUSE. Agents this node
        holds are its dialplan's."""
        now = time.monotonic()
        for agent_id in self.queues.agents:
            status = self.queues.presence.status(agent_id)
            if status is None:
                continue  # not a member here (logged out): nobody rings them
            holder = live.get(agent_id)
            if holder is None and status in BUSY:
                wanted = "NOT_INUSE"
            elif holder is not None and holder != self.node and status in OFFERABLE:
                wanted = "INUSE"
            else:
                continue
            # once per few seconds per agent: the member's status event may take a moment to come back
            if self._sent.get(agent_id, ("", 0.0))[0] == wanted and now - self._sent[agent_id][1] < RESEND_SECONDS:
                continue
            self._sent[agent_id] = (wanted, now)
            log.info("cluster_state_reconciled", agent=agent_id, state=wanted, held_by=holder, status=status)
            await self._device_state(agent_id, wanted)

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
