"""What a node does with the others' news and the store's live reservations: agents held elsewhere show INUSE
here, agents freed (by news, by a lease run out, by a reaper) show NOT_INUSE, this node's own are left to its
dialplan; and the bus takes only well-formed messages from other nodes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from callcenter.cluster.bus import ClusterBus
from callcenter.cluster.follower import ClusterFollower


class FakeAMI:
    connected = True

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def send(self, action: dict[str, str]) -> dict[str, str]:
        self.sent.append((action["Variable"], action["Value"]))
        return {"Response": "Success"}


class Presence:
    def __init__(self) -> None:
        # AST_DEVICE_*: 1 not in use, 2 in use, 6 ringing; 1004 is logged out (not a member here)
        self.states = {"1001": 2, "1002": 2, "1003": 1}

    def status(self, agent_id: str) -> int | None:
        return self.states.get(agent_id)


class Queues:
    def __init__(self) -> None:
        self.agents = {"1001": None, "1002": None, "1003": None, "1004": None}
        self.presence = Presence()


class Reservations:
    def __init__(self) -> None:
        self.held: dict[str, Any] = {}

    async def reservation_of(self, agent_id: str, now: datetime) -> Any:
        return self.held.get(agent_id)


def follower(ami: FakeAMI, reservations: Reservations) -> ClusterFollower:
    return ClusterFollower(
        ranking=None,  # type: ignore[arg-type]
        queues=Queues(),  # type: ignore[arg-type]
        duty=None,  # type: ignore[arg-type]
        reservations=reservations,  # type: ignore[arg-type]
        ami=ami,  # type: ignore[arg-type]
        clock=lambda: datetime(2026, 1, 1, tzinfo=UTC),
        node="node-a",
    )


async def test_news_of_other_nodes_holds_sets_the_agents_state_here() -> None:
    ami, held = FakeAMI(), Reservations()
    f = follower(ami, held)
    await f.heard("reserved", "1001")
    held.held["1002"] = object()  # the news of 1002's release came late: a call holds them again
    await f.heard("released", "1002")
    await f.heard("released", "1003")
    assert ami.sent == [
        ("DEVICE_STATE(Custom:agent-1001)", "INUSE"),
        ("DEVICE_STATE(Custom:agent-1003)", "NOT_INUSE"),
    ]


async def test_reconcile_follows_the_store_against_what_asterisk_shows() -> None:
    ami = FakeAMI()
    f = follower(ami, Reservations())
    # 1001 shows busy but nobody holds them (a lease ran out, a state kept in astdb): free; 1002 is held by this
    # node: its dialplan's; 1003 shows free but node C holds them: busy here; 1004 is no member here; 9999 unknown
    live = {"1002": "node-a", "1003": "node-c", "1004": "node-c", "9999": "node-c"}
    await f.reconcile(live)
    assert ami.sent == [("DEVICE_STATE(Custom:agent-1001)", "NOT_INUSE"), ("DEVICE_STATE(Custom:agent-1003)", "INUSE")]
    # Asterisk has not caught up yet: not sent again at every beat
    ami.sent.clear()
    await f.reconcile(live)
    assert ami.sent == []


async def test_the_bus_takes_other_nodes_well_formed_news_only() -> None:
    bus = ClusterBus("postgresql://nowhere/none", "node-a")
    for payload in (
        "node-b rated 1001",
        "node-a rated 1002",  # our own
        "node-b rated 1001; DROP TABLE calls",
        "node-b exploded 1001",
        "NODE-B rated 1001",
        "node-b rated ",
        b"node-c duty 1003".decode(),
    ):
        bus._on_notify(None, 0, "callcenter", payload)
    got = []
    while not bus._inbox.empty():
        got.append(bus._inbox.get_nowait())
    assert got == [("rated", "1001"), ("duty", "1003")]
