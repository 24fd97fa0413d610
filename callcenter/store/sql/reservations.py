"""Agents reserved by calls: the arbiter between service processes and Asterisk nodes sharing one agent pool.

app_queue keeps its member states per node, and even on one node ``ringinuse=no`` is not atomic (Wazo's own
troubleshooting page): two calls can ring the same agent. The store decides instead. Before an agent's phone rings,
the call reserves the agent with one compare-and-set (an upsert that only takes a free row, an expired one, or its
own): at most one call holds an agent at a time, and a node that dies holds nothing for longer than its lease.
Every attempt is logged with its outcome, in the same transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from callcenter.store.models import Reservation
from callcenter.store.sql.repository import Repository
from callcenter.store.timestamps import aware, from_db


class ReservationRepository(Repository):
    async def reserve_agent(
        self, agent_id: str, call_uniqueid: str, node: str, now: datetime, lease: timedelta
    ) -> bool:
        """Reserve ``agent_id`` for ``call_uniqueid`` until ``now + lease``: True if this call holds the agent now
        (it was free, its lease had run out, or this call held it already: the lease is renewed), False if another
        call holds it."""
        at, until = aware(now), aware(now + lease)
        async with self._db.transaction() as conn:
            taken = await conn.execute(
                "INSERT INTO agent_reservations (agent_id, call_uniqueid, node, reserved_at, lease_until) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (agent_id) DO UPDATE SET call_uniqueid = excluded.call_uniqueid, "
                "node = excluded.node, reserved_at = excluded.reserved_at, lease_until = excluded.lease_until "
                "WHERE agent_reservations.lease_until <= excluded.reserved_at "
                "OR agent_reservations.call_uniqueid = excluded.call_uniqueid",
                (agent_id, call_uniqueid, node, at, until),
            )
            await conn.execute(
                "INSERT INTO reservation_log (agent_id, call_uniqueid, node, at, action) VALUES (?, ?, ?, ?, ?)",
                (agent_id, call_uniqueid, node, at, "reserved" if taken else "refused"),
            )
        return taken > 0

    async def release_agent(self, agent_id: str, call_uniqueid: str, node: str, now: datetime) -> bool:
        """End ``call_uniqueid``'s reservation of ``agent_id`` (accepted and ended, declined, hung up); False if it
        held none (released already, or its lease ran out and another call took the agent)."""
        async with self._db.transaction() as conn:
            released = await conn.execute(
                "DELETE FROM agent_reservations WHERE agent_id = ? AND call_uniqueid = ?", (agent_id, call_uniqueid)
            )
            if released:
                await conn.execute(
                    "INSERT INTO reservation_log (agent_id, call_uniqueid, node, at, action) VALUES (?, ?, ?, ?, ?)",
                    (agent_id, call_uniqueid, node, aware(now), "released"),
                )
        return released > 0

    async def reservation_of(self, agent_id: str, now: datetime) -> Reservation | None:
        """The live reservation of ``agent_id`` (None: free, or its lease ran out)."""
        async with self._db.read() as conn:
            row = await conn.fetch_one(
                "SELECT * FROM agent_reservations WHERE agent_id = ? AND lease_until > ?", (agent_id, aware(now))
            )
        if row is None:
            return None
        return Reservation(
            row["agent_id"], row["call_uniqueid"], row["node"], from_db(row["reserved_at"]), from_db(row["lease_until"])
        )

    async def live_reservations(self, now: datetime) -> dict[str, str]:
        """Every agent held by a call now, with the node holding them (one read, each heartbeat)."""
        async with self._db.read() as conn:
            rows = await conn.fetch_all(
                "SELECT agent_id, node FROM agent_reservations WHERE lease_until > ? ORDER BY agent_id", (aware(now),)
            )
        return {row["agent_id"]: row["node"] for row in rows}

    async def renew_leases(self, node: str, now: datetime, lease: timedelta) -> int:
        """Every reservation ``node`` holds lasts until ``now + lease`` (its heartbeat: a call's talk time holds the
        agent however long it lasts, and nothing once the node stops beating); how many it holds."""
        async with self._db.transaction() as conn:
            return await conn.execute(
                "UPDATE agent_reservations SET lease_until = ? WHERE node = ? AND lease_until > ?",
                (aware(now + lease), node, aware(now)),
            )

    async def free_node(self, node: str, now: datetime, *, silent_since: datetime) -> list[str]:
        """A dead node's reservations end now, each logged as ``released`` under the dead node's name (the schema's
        three actions; the service's log says ``node_reaped``): the agents freed. Only if the node has not beaten
        since ``silent_since`` (it may have come back between the survivor's look and this)."""
        async with self._db.transaction() as conn:
            alive = await conn.fetch_one(
                "SELECT node FROM node_heartbeats WHERE node = ? AND at > ?", (node, aware(silent_since))
            )
            if alive is not None:
                return []
            rows = await conn.fetch_all(
                "SELECT agent_id, call_uniqueid FROM agent_reservations WHERE node = ? ORDER BY agent_id", (node,)
            )
            await conn.execute("DELETE FROM agent_reservations WHERE node = ?", (node,))
            for row in rows:
                await conn.execute(
                    "INSERT INTO reservation_log (agent_id, call_uniqueid, node, at, action) VALUES (?, ?, ?, ?, ?)",
                    (row["agent_id"], row["call_uniqueid"], node, aware(now), "released"),
                )
        return [row["agent_id"] for row in rows]

    async def free_stale(self, agent_id: str, node: str, *, before: datetime) -> bool:
        """``node``'s reservation of ``agent_id``, made before ``before``, ends: its call's leg is gone and no release
        came. False if there was none (released meanwhile, or taken again since)."""
        async with self._db.transaction() as conn:
            row = await conn.fetch_one(
                "SELECT call_uniqueid FROM agent_reservations WHERE agent_id = ? AND node = ? AND reserved_at < ?",
                (agent_id, node, aware(before)),
            )
            if row is None:
                return False
            await conn.execute(
                "DELETE FROM agent_reservations WHERE agent_id = ? AND node = ? AND reserved_at < ?",
                (agent_id, node, aware(before)),
            )
            await conn.execute(
                "INSERT INTO reservation_log (agent_id, call_uniqueid, node, at, action) VALUES (?, ?, ?, ?, ?)",
                (agent_id, row["call_uniqueid"], node, aware(before), "released"),
            )
        return True

    async def reservation_log(self, since: datetime) -> list[tuple[str, str, str, datetime, str]]:
        """Every attempt since ``since``, oldest first: (agent, call, node, at, action)."""
        async with self._db.read() as conn:
            rows = await conn.fetch_all(
                "SELECT agent_id, call_uniqueid, node, at, action FROM reservation_log WHERE at >= ? ORDER BY id",
                (aware(since),),
            )
        return [(r["agent_id"], r["call_uniqueid"], r["node"], from_db(r["at"]), r["action"]) for r in rows]

    async def heartbeat(self, node: str, started_at: datetime, now: datetime) -> None:
        """``node`` is alive at ``now`` (it started at ``started_at``: a restarted node is a new life)."""
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO node_heartbeats (node, started_at, at) VALUES (?, ?, ?) ON CONFLICT (node) DO UPDATE "
                "SET started_at = excluded.started_at, at = excluded.at",
                (node, aware(started_at), aware(now)),
            )

    async def silent_nodes(self, since: datetime) -> dict[str, datetime]:
        """The nodes whose last heartbeat is older than ``since``, with that beat: dead, for a survivor to reap."""
        async with self._db.read() as conn:
            rows = await conn.fetch_all(
                "SELECT node, at FROM node_heartbeats WHERE at < ? ORDER BY node", (aware(since),)
            )
        return {row["node"]: from_db(row["at"]) for row in rows}
