"""QueueSync against a fake AMI link: the exact actions a resync or a presence change sends."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from panoramisk.message import Message

from callcenter.ami.link import AMIActionError, AMILink
from callcenter.ami.queues import QueueSync
from callcenter.domain.agents import AgentSpec, Duty


def agent(agent_id: str, *services: str) -> AgentSpec:
    return AgentSpec(agent_id, f"agent {agent_id}", services, "dial", f"Local/{agent_id}@phones/n", None)


AGENTS = (agent("1001", "support"), agent("1002", "support"), agent("1003", "support"))


class FakeAMI:
    """Records actions; QueueStatus answers with the members it was given."""

    def __init__(self, members: Sequence[tuple[str, str, bool]] = ()) -> None:
        self.members = list(members)  # (queue, agent, paused)
        self.sent: list[dict[str, Any]] = []
        self.connected = True
        self.refuse: set[tuple[str, str]] = set()  # (action, queue) answered with an error

    def on_event(self, *_: object) -> None: ...
    def on_resync(self, *_: object) -> None: ...

    async def send(self, action: dict[str, Any]) -> Message:
        self.sent.append(action)
        if (action["Action"], action.get("Queue")) in self.refuse:
            self.refuse.discard((action["Action"], action.get("Queue")))  # a passing failure: once
            raise AMIActionError(action["Action"], "Unable to add interface")
        return Message({"Response": "Success"})

    async def send_list(self, action: dict[str, Any]) -> list[Message]:
        assert action == {"Action": "QueueStatus"}
        return [
            Message(
                {
                    "Event": "QueueMember",
                    "Queue": queue,
                    "Location": f"Local/{agent_id}@cc-agent-offer/n",
                    "Status": "1",
                    "Paused": "1" if paused else "0",
                    "Penalty": "0",
                }
            )
            for queue, agent_id, paused in self.members
        ]

    def actions(self, name: str) -> list[tuple[str, ...]]:
        keys = ("Queue", "Interface", "Paused", "Reason")
        return [tuple(str(a.get(k, "")) for k in keys) for a in self.sent if a["Action"] == name]


async def no_talk_times(ids: Sequence[str]) -> dict[str, list[float]]:
    """No stored calls: every agent starts with the configured handle time."""
    return {}


def sync(ami: FakeAMI, duty: Mapping[str, Duty]) -> QueueSync:
    async def penalties(ids: Sequence[str]) -> dict[str, int]:
        return dict.fromkeys(ids, 0)

    async def duties(ids: Sequence[str]) -> dict[str, Duty]:
        return {i: duty[i] for i in ids if i in duty}

    return QueueSync(cast(AMILink, ami), AGENTS, penalties, duties, talk_times=no_talk_times, handle_seconds=180)


def member(agent_id: str) -> str:
    return f"Local/{agent_id}@cc-agent-offer/n"


def all_queues(agent_id: str) -> list[str]:
    return [f"agent-{agent_id}", f"agent-{agent_id}-vip", "service-support"]


async def test_resync_makes_members_follow_presence() -> None:
    ami = FakeAMI(
        [(q, "1001", False) for q in all_queues("1001")]
        + [(q, "1002", False) for q in all_queues("1002")]
        + [(q, "1003", False) for q in all_queues("1003")]
    )
    queues = sync(ami, {"1002": Duty(True, True, "lunch"), "1003": Duty(False)})
    await queues.resync()
    assert ami.actions("QueuePause") == [(q, member("1002"), "true", "lunch") for q in all_queues("1002")]
    assert sorted(ami.actions("QueueRemove")) == sorted((q, member("1003"), "", "") for q in all_queues("1003"))
    assert ami.actions("QueueAdd") == []
    assert queues.presence.offerable("1001")
    assert not queues.presence.offerable("1002")
    assert not queues.presence.offerable("1003")
    assert not queues.presence.reachable("1003")


async def test_resync_after_an_asterisk_restart_adds_paused_members_paused() -> None:
    ami = FakeAMI()  # a fresh Asterisk: no members at all
    queues = sync(ami, {"1002": Duty(True, True, "training"), "1003": Duty(False)})
    await queues.resync()
    added = {(q, i, p) for q, i, p, _ in ami.actions("QueueAdd")}
    assert added == {
        (q, member(a), "true" if a == "1002" else "false") for a in ("1001", "1002") for q in all_queues(a)
    }
    assert ami.actions("QueuePause") == [(q, member("1002"), "true", "training") for q in all_queues("1002")]


async def test_apply_logs_out_and_back_in_with_exact_actions() -> None:
    ami = FakeAMI([(q, "1001", False) for q in all_queues("1001")])
    queues = sync(ami, {})
    await queues.resync()
    ami.sent.clear()
    await queues.apply("1001", Duty(False))
    assert list(ami.actions("QueueRemove")) == [(q, member("1001"), "", "") for q in all_queues("1001")]
    assert not queues.presence.offerable("1001")
    ami.sent.clear()
    await queues.apply("1001", Duty(True))
    assert [(q, i, p) for q, i, p, _ in ami.actions("QueueAdd")] == [
        (q, member("1001"), "false") for q in all_queues("1001")
    ]
    # its custom device state is set free so app_queue rings it
    assert {"Action": "Setvar", "Variable": "DEVICE_STATE(Custom:agent-1001)", "Value": "NOT_INUSE"} in ami.sent
    assert queues.presence.offerable("1001")


async def test_with_ami_down_a_change_is_remembered_and_offers_follow_it() -> None:
    ami = FakeAMI()
    ami.connected = False
    queues = sync(ami, {})
    await queues.apply("1002", Duty(True, True, "lunch"))
    assert ami.sent == []
    # never synced: the offers go by what agents chose
    assert not queues.presence.offerable("1002")
    assert queues.presence.offerable("1001")


async def test_a_failed_step_of_a_log_in_is_followed_by_a_resync() -> None:
    ami = FakeAMI()
    stored = {"1001": Duty(False), "1002": Duty(False), "1003": Duty(False)}
    queues = sync(ami, stored)
    await queues.resync()
    ami.refuse = {("QueueAdd", "agent-1001-vip")}
    ami.sent.clear()
    stored["1001"] = Duty(True)  # the store is written first, then Asterisk is told
    await queues.apply("1001", Duty(True))
    # all three adds were tried, then the resync (QueueStatus: nothing there in this fake) tried every one again
    assert [q for q, *_ in ami.actions("QueueAdd")] == all_queues("1001") * 2
