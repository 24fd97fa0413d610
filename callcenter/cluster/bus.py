"""What one node's service changes, told to every other node's at once: PostgreSQL LISTEN/NOTIFY.

A rating stored (the agent's penalty and ranking move), an agent's presence changed (their queue members), an
agent reserved or freed by a call (the other nodes' app_queue should not even try them): each is one NOTIFY on
the channel ``callcenter`` after the commit, ``<node> <kind> <agent>``. The payload says only which agent: the
receiver reads the numbers again from the store, so a notification can be late or doubled, never wrong.

NOTIFY is not replayed to a listener that was disconnected (checked here: ``../shared/notes/scale-out.md``), so
every (re)connect of the listening connection runs the full resync, as every AMI reconnect does, and
``[cluster] resync_seconds`` runs it anyway. The listening connection is asyncpg's own, apart from the store's
pool: a pooled connection is reset (UNLISTEN) when it goes back to the pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable
from typing import Final, Protocol

import asyncpg
import structlog

from callcenter.domain.agents import Duty
from callcenter.store.models import Call
from callcenter.usecases.ports import PresencePush

log = structlog.get_logger(__name__)

CHANNEL: Final = "callcenter"
KINDS: Final = frozenset({"rated", "duty", "reserved", "released"})
MESSAGE: Final = re.compile(r"^(?P<node>[a-z0-9][a-z0-9-]{0,23}) (?P<kind>[a-z]{1,12}) (?P<agent>[0-9]{1,12})$")
# a notification must not hold the route or the rater that sent it: past this it is dropped (the resync covers it)
PUBLISH_TIMEOUT: Final = 1.0


class Follower(Protocol):
    """What a node does with another node's news (``cluster/follower.py``)."""

    async def heard(self, kind: str, agent_id: str) -> None: ...
    async def resync(self) -> None: ...


class ClusterBus:
    """This node's end of the channel: ``publish`` and the listening loop ``run``. It is the store watcher (ratings,
    told after the commit) and the arbiter's ``ReservationNews``."""

    def __init__(
        self,
        dsn: str,
        node: str,
        *,
        connect: Callable[[str], Awaitable[asyncpg.Connection]] | None = None,
        reconnect_max: float = 5.0,
    ) -> None:
        self.dsn = dsn
        self.node = node
        self._connect = connect or (lambda dsn: asyncpg.connect(dsn, timeout=5))
        self.reconnect_max = reconnect_max
        self.follower: Follower | None = None
        self._conn: asyncpg.Connection | None = None
        self._send = asyncio.Lock()  # one statement at a time on the one connection
        self._inbox: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self.connected = asyncio.Event()
        self.published = 0
        self.received = 0

    def follow(self, follower: Follower) -> None:
        self.follower = follower

    # -- publishing -----------------------------------------------------------------------------------------------
    async def publish(self, kind: str, agent_id: str) -> None:
        assert kind in KINDS, kind
        conn = self._conn
        if conn is None or conn.is_closed():
            log.warning("cluster_news_dropped", kind=kind, agent=agent_id, reason="no connection; resync covers it")
            return
        try:
            async with asyncio.timeout(PUBLISH_TIMEOUT), self._send:
                await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, f"{self.node} {kind} {agent_id}")
            self.published += 1
        except Exception as exc:
            # the resync covers it; a rater or a route never fails for a notification
            log.warning("cluster_news_dropped", kind=kind, agent=agent_id, error=str(exc) or type(exc).__name__)

    # the store's watcher: a rating of an agent changed, here (the IVR, the web, the journal's replay)
    async def agent_rated(self, agent_id: str) -> None:
        await self.publish("rated", agent_id)

    def call_answered(self, call: Call) -> None:
        return None  # the other nodes' rankings read answers in their rounds (they move no penalty)

    # the arbiter's news
    async def reserved(self, agent_id: str) -> None:
        await self.publish("reserved", agent_id)

    async def released(self, agent_id: str) -> None:
        await self.publish("released", agent_id)

    # -- listening ------------------------------------------------------------------------------------------------
    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        found = MESSAGE.match(str(payload))
        if found is None or found["kind"] not in KINDS:
            log.warning("cluster_news_malformed", payload=str(payload)[:80])
            return
        if found["node"] == self.node:
            return  # our own: already applied here
        self._inbox.put_nowait((found["kind"], found["agent"]))

    async def start(self) -> None:
        """The first connection, before anything is served: a store the nodes cannot reach stops the start."""
        await self._open()

    async def _open(self) -> None:
        conn = await self._connect(self.dsn)
        await conn.add_listener(CHANNEL, self._on_notify)
        self._conn = conn
        self.connected.set()
        log.info("cluster_listening", node=self.node)

    async def run(self) -> None:
        """Deliver the news in order, and keep the connection: each reconnect resyncs. Until cancelled."""
        deliver = asyncio.create_task(self._deliver(), name="cluster-news")
        delay = 0.2
        try:
            while True:
                conn = self._conn
                if conn is not None and not conn.is_closed():
                    await self._closed(conn)
                self.connected.clear()
                self._conn = None
                log.warning("cluster_listen_lost", node=self.node)
                while True:
                    try:
                        await self._open()
                        break
                    except Exception as exc:
                        # whatever the driver raises (a refused login, a protocol error): retried, never the end of
                        # the news for the life of the process
                        log.warning("cluster_listen_retry", error=str(exc) or type(exc).__name__, delay=delay)
                        await asyncio.sleep(delay)
                        delay = min(self.reconnect_max, delay * 2)
                delay = 0.2
                # whatever was said while we were away is lost: compare everything once
                if self.follower is not None:
                    await self._safely(self.follower.resync())
        finally:
            deliver.cancel()
            await asyncio.gather(deliver, return_exceptions=True)

    async def _closed(self, conn: asyncpg.Connection) -> None:
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _c: lost.set())
        # asyncpg notices a dead server on the next statement: ask now and then
        while not lost.is_set():
            try:
                async with asyncio.timeout(5), self._send:
                    await conn.execute("SELECT 1")
            except Exception:
                break
            try:
                await asyncio.wait_for(lost.wait(), timeout=2.0)
            except TimeoutError:
                continue
        with contextlib.suppress(Exception):
            await conn.close(timeout=1)

    async def _deliver(self) -> None:
        while True:
            kind, agent_id = await self._inbox.get()
            self.received += 1
            if self.follower is not None:
                await self._safely(self.follower.heard(kind, agent_id))

    async def _safely(self, step: Awaitable[None]) -> None:
        try:
            await step
        except Exception:
            # one failed application must not end the news for the life of the process; the resync corrects it
            log.exception("cluster_news_failed")

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)


async def notify_once(dsn: str, node: str, kind: str, agent_id: str) -> None:
    """One notification from a process that is not a node's service (the CLI's removal of a rating): its own short
    connection. A store that cannot be reached is the resync's to make up for."""
    assert kind in KINDS, kind
    try:
        conn = await asyncpg.connect(dsn, timeout=5)
        try:
            await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, f"{node} {kind} {agent_id}")
        finally:
            await conn.close(timeout=2)
    except Exception as exc:
        # what was committed stays committed: the other nodes' resync brings it (this only makes it sooner)
        log.warning("cluster_news_dropped", kind=kind, agent=agent_id, error=str(exc) or type(exc).__name__)


class TellingPresence:
    """The presence port of a cluster's node: Asterisk here first (``QueueSync.apply``), then the other nodes."""

    def __init__(self, local: PresencePush, bus: ClusterBus) -> None:
        self.local = local
        self.bus = bus

    async def apply(self, agent_id: str, duty: Duty) -> None:
        await self.local.apply(agent_id, duty)
        await self.bus.publish("duty", agent_id)
