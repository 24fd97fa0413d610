"""This node's heartbeat and leases, and the reaping of nodes gone silent.

A node beats while its Asterisk answers on AMI: a service whose Asterisk died carries no calls, so it is as dead
to the others as a node whose service died (an AMI outage longer than ``dead_after_seconds`` with Asterisk alive is
taken for a death too: keep ``dead_after_seconds`` well above the AMI link's reconnect time). Each beat renews the
leases of the agents this node's calls hold, so a call's talk time holds its agent however long it lasts; every
few beats the node asks Asterisk which member legs (``Local/<agent>@cc-agent-offer-...``) are still up and frees
the reservations of agents with none, so a release that never came (the release route failed, Asterisk restarted
within the silence) does not hold an agent for ever.

A node silent for ``dead_after_seconds`` is dead: any survivor frees the agents its calls held and closes its open
calls that started before its last beat as ``interrupted`` (at that beat), whose ratings stay owed to both sides
(the caller's reminder, the agent's review list), as the one-node reaper does for calls that lasted while the
service was gone. Its calls are known by their uniqueids, which start with its ``systemname``. Freeing is guarded in
SQL by the silence (a node that beat again meanwhile keeps its agents), and each silence is reaped once.

A node never reaps itself: its own calls are its reaper's (``ami/reaper.py``), on Asterisk's word, once AMI is back.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Final

import structlog

from callcenter.ami.link import AMIError, AMILink
from callcenter.domain import naming
from callcenter.store.api import CallStore, ReservationStore
from callcenter.usecases.ports import Clock

log = structlog.get_logger(__name__)

# a member's leg that rings, screens or carries an agent's call (either half of the Local channel)
OFFER_LEG: Final = re.compile(rf"^Local/(?P<agent>[0-9]+)@{naming.AGENT_OFFER}-[0-9a-f]+;[12]$")
# how often (in beats) the member legs are listed: a Status listing is every channel, not for every second
LEGS_EVERY: Final = 4


class NodeKeeper:
    def __init__(
        self,
        store: CallStore,
        reservations: ReservationStore,
        ami: AMILink,
        *,
        node: str,
        clock: Clock,
        heartbeat: float,
        lease: float,
        dead_after: float,
        reconcile: Callable[[Mapping[str, str]], Awaitable[None]] | None = None,
    ) -> None:
        """``reconcile``: told each beat which agents are held and by which node (``ClusterFollower.reconcile``)."""
        self.reconcile = reconcile
        self.store = store
        self.reservations = reservations
        self.ami = ami
        self.node = node
        self.clock = clock
        self.heartbeat = heartbeat
        self.lease = timedelta(seconds=lease)
        self.dead_after = timedelta(seconds=dead_after)
        self.started_at = clock()
        self.reaped: dict[str, int] = {}  # dead node -> calls this keeper closed (tests, the closing note)
        self._silences: dict[str, datetime] = {}  # dead node -> the last beat whose silence was reaped
        self._beats = 0

    async def run(self) -> None:
        while True:
            try:
                await self.beat_once()
            except Exception:
                # the store unreachable for a moment: the next beat tries again (a lease outlasts two beats)
                log.exception("node_beat_failed", node=self.node)
            await asyncio.sleep(self.heartbeat)

    async def beat_once(self) -> None:
        now = self.clock()
        self._beats += 1
        if self.ami.connected:
            await self.reservations.heartbeat(self.node, self.started_at, now)
            await self.reservations.renew_leases(self.node, now, self.lease)
        for dead, last in (await self.reservations.silent_nodes(now - self.dead_after)).items():
            if dead != self.node and self._silences.get(dead) != last:
                await self.reap(dead, last, now)
                self._silences[dead] = last
        live = await self.reservations.live_reservations(now)
        if self.ami.connected and self._beats % LEGS_EVERY == 0 and self.node in live.values():
            live = await self._free_legless(live, now)
        if self.reconcile is not None and self.ami.connected:
            await self.reconcile(live)

    async def _free_legless(self, live: Mapping[str, str], now: datetime) -> dict[str, str]:
        """This node's reservations whose agent has no member leg up any more: freed (taken before the listing)."""
        try:
            listing = await self.ami.send_list({"Action": "Status"})
        except AMIError as exc:
            log.warning("node_legs_unknown", error=str(exc))
            return dict(live)
        legs = {found["agent"] for m in listing if (found := OFFER_LEG.match(str(m.get("Channel") or "")))}
        kept = dict(live)
        for agent_id, holder in live.items():
            stale = holder == self.node and agent_id not in legs
            if stale and await self.reservations.free_stale(agent_id, self.node, before=now):
                log.warning("agent_reservation_stale", agent=agent_id, reason="no member leg on this node")
                kept.pop(agent_id, None)
        return kept

    async def reap(self, dead: str, last_beat: datetime, now: datetime) -> int:
        """Free what ``dead`` held (if it is still silent) and close its calls begun before its last beat."""
        freed = await self.reservations.free_node(dead, now, silent_since=last_beat)
        closed = 0
        for call in await self.store.open_calls(started_before=last_beat, node=dead):
            ended = await self.store.call_ended(call.uniqueid, "interrupted", max(last_beat, call.started_at))
            if ended is not None and ended.outcome == "interrupted":
                closed += 1
        if freed or closed:
            self.reaped[dead] = self.reaped.get(dead, 0) + closed
            log.warning("node_reaped", node=dead, silent_since=last_beat.isoformat(), calls=closed, agents_freed=freed)
        return closed
