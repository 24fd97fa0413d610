"""A cluster node's keeper (callcenter/cluster/keeper.py) on both backends: it beats and renews its leases only
while its Asterisk answers, reaps a silent node's calls and reservations (never its own, never another node's whose
name merely starts the same), and reaping twice closes nothing twice."""

from __future__ import annotations

from datetime import datetime, timedelta

from callcenter.cluster.keeper import NodeKeeper
from callcenter.store.sql.store import SqlStore
from tests.unit.store.helpers import T0, answered_call, at, seed

LEASE = timedelta(seconds=4)


class Link:
    """The AMI link as the keeper uses it: up or down, and the member legs Asterisk lists."""

    def __init__(self, connected: bool = True, legs: tuple[str, ...] = ()) -> None:
        self.connected = connected
        self.legs = list(legs)

    async def send_list(self, action: dict[str, str]) -> list[dict[str, str]]:
        assert action == {"Action": "Status"}
        return [{"Event": "Status", "Channel": f"Local/{a}@cc-agent-offer-0000001a;2"} for a in self.legs]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def keeper(
    store: SqlStore, node: str, clock: Clock, link: Link, seen: list[dict[str, str]] | None = None
) -> NodeKeeper:
    async def reconcile(live: object) -> None:
        if seen is not None:
            seen.append(dict(live))  # type: ignore[call-overload]

    return NodeKeeper(
        store,
        store,
        link,  # type: ignore[arg-type]
        node=node,
        clock=clock,
        heartbeat=0.5,
        lease=LEASE.total_seconds(),
        dead_after=3,
        reconcile=reconcile,
    )


async def test_a_silent_node_is_reaped_by_a_survivor_and_only_its_own_calls(store: SqlStore) -> None:
    await seed(store)
    clock = Clock(T0)
    a_link, b_link = Link(), Link()
    a, b = keeper(store, "node-a", clock, a_link), keeper(store, "node-b", clock, b_link)
    for uid in ("node-a-1796000000.1", "node-a-b-1796000000.2", "node-b-1796000000.3"):
        await answered_call(store, uid)
    assert await store.reserve_agent("1001", "node-a-1796000000.1", "node-a", at(12), LEASE) is True
    clock.now = at(13)
    await a.beat_once()
    await b.beat_once()
    # node A's Asterisk dies: its service stops beating (and renewing); node B goes on
    a_link.connected = False
    for second in range(14, 20):
        clock.now = at(second)
        await a.beat_once()
        await b.beat_once()
    assert b.reaped == {"node-a": 1}
    assert a.reaped == {}
    reaped = await store.get_call("node-a-1796000000.1")
    assert reaped is not None
    assert (reaped.outcome, reaped.ended_at, reaped.agent_id) == ("interrupted", at(13), "1001")
    # a node named "node-a-b" is not node A; node B's own call is not touched
    for other in ("node-a-b-1796000000.2", "node-b-1796000000.3"):
        call = await store.get_call(other)
        assert call is not None
        assert call.ended_at is None
    assert await store.reservation_of("1001", at(20)) is None
    # reaping again closes nothing again
    clock.now = at(21)
    await b.beat_once()
    assert b.reaped == {"node-a": 1}
    assert await store.check_invariants() == []


async def test_a_live_node_renews_its_leases_so_a_long_call_keeps_its_agent(store: SqlStore) -> None:
    await seed(store)
    clock = Clock(T0)
    seen: list[dict[str, str]] = []
    link = Link(legs=("1001",))
    a = keeper(store, "node-a", clock, link, seen)
    assert await store.reserve_agent("1001", "node-a-1796000000.1", "node-a", T0, LEASE) is True
    for second in range(0, 60):
        clock.now = at(second)
        await a.beat_once()
    # a minute of talk, far past the 4 s lease: still held, and the other nodes were told so each beat
    assert await store.reserve_agent("1001", "node-b-1796000000.9", "node-b", at(60), LEASE) is False
    assert seen[-1] == {"1001": "node-a"}
    # the beats stop: the lease runs out by itself
    assert await store.reserve_agent("1001", "node-b-1796000000.9", "node-b", at(59) + LEASE, LEASE) is True


async def test_a_reservation_whose_leg_is_gone_is_freed_though_no_release_came(store: SqlStore) -> None:
    await seed(store)
    clock = Clock(T0)
    link = Link(legs=("1001", "1002"))
    a = keeper(store, "node-a", clock, link)
    for agent in ("1001", "1002"):
        assert await store.reserve_agent(agent, f"node-a-1796000000.{agent}", "node-a", T0, LEASE) is True
    # 1002's leg hangs up but its release never reaches the store (the route failed): the beats would renew it
    link.legs = ["1001"]
    for second in range(1, 30):
        clock.now = at(second)
        await a.beat_once()
    assert await store.reservation_of("1001", at(30)) is not None
    assert await store.reservation_of("1002", at(30)) is None
    # and a node that beats again between a survivor's look and its reaping keeps its agents
    assert await store.free_node("node-a", at(30), silent_since=at(10)) == []
    assert await store.reservation_of("1001", at(30)) is not None
