"""This node's heartbeat and leases, and the reaping of nodes gone silent.

A node beats while its Asterisk answers on AMI: a service whose Asterisk died carries no calls, so it is as dead
to the others as a node whose service died. Each beat also renews the leases of every agent this node's calls
hold (so a call's talk time holds its agent however long it lasts). A node silent for ``dead_after_seconds`` is
dead: any survivor frees the agents its calls held and closes its open calls as ``interrupted`` (at its last
beat), whose ratings stay owed to both sides (the caller's reminder, the agent's review list), as the one-node
reaper does for calls that lasted while the service was gone. Its calls are known by their uniqueids, which
start with its ``systemname``. Reaping is idempotent, so two survivors reaping at once close each call once.

A node never reaps itself: its own calls are its reaper's (``ami/reaper.py``), on Asterisk's word, once AMI is back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta

import structlog

from callcenter.ami.link import AMILink
from callcenter.store.api import CallStore, ReservationStore
from callcenter.usecases.ports import Clock

log = structlog.get_logger(__name__)


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
        if self.ami.connected:
            await self.reservations.heartbeat(self.node, self.started_at, now)
            await self.reservations.renew_leases(self.node, now, self.lease)
        for dead, last in (await self.reservations.silent_nodes(now - self.dead_after)).items():
            if dead != self.node:
                await self.reap(dead, last, now)
        if self.reconcile is not None and self.ami.connected:
            await self.reconcile(await self.reservations.live_reservations(now))

    async def reap(self, dead: str, last_beat: datetime, now: datetime) -> int:
        """Free what ``dead`` held and close its open calls; how many calls were closed."""
        freed = await self.reservations.free_node(dead, now)
        closed = 0
        for call in await self.store.open_calls(started_before=now, node=dead):
            ended = await self.store.call_ended(call.uniqueid, "interrupted", max(last_beat, call.started_at))
            if ended is not None and ended.outcome == "interrupted":
                closed += 1
        if freed or closed:
            self.reaped[dead] = self.reaped.get(dead, 0) + closed
            log.warning("node_reaped", node=dead, silent_since=last_beat.isoformat(), calls=closed, agents_freed=freed)
        return closed
