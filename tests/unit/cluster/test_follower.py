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


class Queues:
    def __init__(self) -> None:
        self.agents = {"1001": None, "1002": None, "1003": None}


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


async def test_reservations_elsewhere_are_mirrored_and_freed_again() -> None:
    ami, held = FakeAMI(), Reservations()
    f = follower(ami, held)
    await f.heard("reserved", "1001")
    held.held["1002"] = object()  # the news of 1002's release came late: a call holds them again
    await f.heard("reserved", "1002")
    await f.heard("released", "1002")
    assert ami.sent == [
        ("DEVICE_STATE(Custom:agent-1001)", "INUSE"),
        ("DEVICE_STATE(Custom:agent-1002)", "INUSE"),
    ]
    ami.sent.clear()
    # the store says: 1001's lease ran out (nobody's news), 1002 is held by this node now, 1003 by node C
    await f.reconcile({"1002": "node-a", "1003": "node-c", "9999": "node-c"})
    assert ami.sent == [("DEVICE_STATE(Custom:agent-1003)", "INUSE"), ("DEVICE_STATE(Custom:agent-1001)", "NOT_INUSE")]
    assert f.mirrored == {"1003"}


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
