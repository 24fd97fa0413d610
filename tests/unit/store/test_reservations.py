"""Agents reserved by calls, on both backends: at most one call holds an agent; a lease that runs out frees it;
only the holder releases; every attempt is logged; many attempts at once have exactly one winner."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from callcenter.store.opening import StoreUrl
from callcenter.store.sql.store import SqlStore
from tests.unit.store.helpers import T0, at, migrated, seed

LEASE = timedelta(seconds=30)


async def test_one_call_holds_an_agent_until_it_releases_them(store: SqlStore) -> None:
    assert await store.reserve_agent("1001", "call-a", "node-1", T0, LEASE) is True
    assert await store.reserve_agent("1001", "call-b", "node-2", at(1), LEASE) is False
    # the holder again: still its (the lease renewed)
    assert await store.reserve_agent("1001", "call-a", "node-1", at(2), LEASE) is True
    held = await store.reservation_of("1001", at(3))
    assert held is not None
    assert (held.call_uniqueid, held.node, held.lease_until) == ("call-a", "node-1", at(2) + LEASE)
    # only the holder releases
    assert await store.release_agent("1001", "call-b", "node-2", at(4)) is False
    assert await store.release_agent("1001", "call-a", "node-1", at(4)) is True
    assert await store.reservation_of("1001", at(5)) is None
    assert await store.reserve_agent("1001", "call-b", "node-2", at(5), LEASE) is True
    log = await store.sql.query("SELECT call_uniqueid, action FROM reservation_log ORDER BY id")
    assert [(r["call_uniqueid"], r["action"]) for r in log] == [
        ("call-a", "reserved"),
        ("call-b", "refused"),
        ("call-a", "reserved"),
        ("call-a", "released"),
        ("call-b", "reserved"),
    ]


async def test_a_lease_that_ran_out_frees_the_agent(store: SqlStore) -> None:
    assert await store.reserve_agent("1002", "call-a", "node-1", T0, LEASE) is True
    assert await store.reserve_agent("1002", "call-b", "node-2", T0 + LEASE - timedelta(seconds=1), LEASE) is False
    # node-1 died: its lease ends, the next call takes the agent
    assert await store.reservation_of("1002", T0 + LEASE) is None
    assert await store.reserve_agent("1002", "call-b", "node-2", T0 + LEASE, LEASE) is True
    # and the dead node's late release changes nothing
    assert await store.release_agent("1002", "call-a", "node-1", T0 + LEASE) is False
    held = await store.reservation_of("1002", T0 + LEASE)
    assert held is not None
    assert held.call_uniqueid == "call-b"


async def test_an_unknown_agent_cannot_be_reserved(store: SqlStore) -> None:
    with pytest.raises(Exception):  # noqa: B017, PT011 - the backend's foreign-key refusal, whatever its class
        await store.reserve_agent("9999", "call-a", "node-1", T0, LEASE)


async def test_many_calls_at_once_from_several_connections_have_one_winner(place: StoreUrl) -> None:
    """Four store handles (as four service processes or nodes), 16 attempts each round, 20 rounds."""
    handles = [await migrated(place) for _ in range(4)]
    try:
        await seed(handles[0])
        for n in range(20):
            now = at(100 * n)
            attempts = [
                handles[i % 4].reserve_agent("1003", f"call-{n}-{i}", f"node-{i % 4}", now, timedelta(seconds=50))
                for i in range(16)
            ]
            won = await asyncio.gather(*attempts)
            assert sum(won) == 1, (n, won)
    finally:
        for h in handles:
            await h.close()


async def test_a_node_that_stops_beating_is_silent(store: SqlStore) -> None:
    await store.heartbeat("node-1", T0, at(0))
    await store.heartbeat("node-2", T0, at(0))
    await store.heartbeat("node-1", T0, at(20))
    assert await store.silent_nodes(at(10)) == {"node-2": at(0)}
    await store.heartbeat("node-2", at(25), at(25))  # restarted: alive again
    assert await store.silent_nodes(at(10)) == {}
