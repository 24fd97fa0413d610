"""The wallboard's model, fed real AMI bytes through the service's own link: who waits where, each agent's state
through ring, screening and talk, and what a hostile caller ID becomes."""

from __future__ import annotations

from typing import Any

from callcenter.domain.agents import Duty
from callcenter.web.board import agent_state, shown_caller
from tests.unit.web.conftest import Console


def event(name: str, **fields: str) -> bytes:
    return (f"Event: {name}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n").encode()


async def after(console: Console, data: bytes, check: Any) -> dict[str, Any]:
    """Send ``data`` as Asterisk would; the first snapshot for which ``check`` holds."""
    board = console.center.board
    assert board is not None
    seen = board.snapshot.version
    console.ami.broadcast(data)
    while True:
        snap = await board.next_snapshot(seen, timeout=5)
        assert snap is not None, "no new snapshot within 5 s"
        seen = snap.version
        if check(snap.data):
            return snap.data


def agent(data: dict[str, Any], agent_id: str) -> dict[str, Any]:
    return next(a for a in data["agents"] if a["id"] == agent_id)


async def test_callers_waiting_per_service_and_per_agent(console: Console) -> None:
    data = await after(
        console,
        event("QueueCallerJoin", Queue="service-support", Uniqueid="main-1.1", CallerIDNum="5550101", Position="1")
        + event("QueueCallerJoin", Queue="agent-1002", Uniqueid="main-2.1", CallerIDNum="5550102", Position="1"),
        lambda d: d["services"][0]["waiting"] == 1 and agent(d, "1002")["waiting"] == 1,
    )
    support = data["services"][0]
    assert (support["queue"], support["callers"][0]["caller"]) == ("service-support", "5550101")
    assert support["longest_since"] is not None
    data = await after(
        console,
        event("QueueCallerAbandon", Queue="service-support", Uniqueid="main-1.1"),
        lambda d: d["services"][0]["waiting"] == 0,
    )
    assert agent(data, "1002")["waiting"] == 1


async def test_a_hostile_caller_id_is_shown_as_a_number_or_anonymous(console: Console) -> None:
    data = await after(
        console,
        event("QueueCallerJoin", Queue="service-sales", Uniqueid="main-3.1", CallerIDNum='<img src=x onerror="x">'),
        lambda d: d["services"][1]["waiting"] == 1,
    )
    assert data["services"][1]["callers"][0]["caller"] == "anonymous"
    assert shown_caller("+1 (555) 010-0101") == "+15550100101"
    assert shown_caller("555\x1b[2J0101") in {"5550101", "anonymous"}


async def test_an_agent_goes_ringing_screening_on_a_call_and_free_again(console: Console) -> None:
    member = "Local/1001@cc-agent-offer/n"
    common = {"Queue": "agent-1001", "Uniqueid": "main-4.1", "Interface": member, "MemberName": "1001"}
    ringing = await after(console, event("AgentCalled", **common), lambda d: agent(d, "1001")["state"] == "ringing")
    assert ringing["states"]["ringing"] == 1
    await after(
        console,
        event("UserEvent", UserEvent="CallCenterScreen", Agent="1001", Call="main-4.1", Caller="5550104"),
        lambda d: agent(d, "1001")["state"] == "screening",
    )
    await after(
        console, event("AgentConnect", **common, HoldTime="3"), lambda d: agent(d, "1001")["state"] == "on_call"
    )
    done = await after(
        console, event("AgentComplete", **common, TalkTime="30"), lambda d: agent(d, "1001")["state"] == "available"
    )
    assert done["states"]["on_call"] == 0


async def test_a_paused_agent_shows_the_reason(console: Console) -> None:
    await console.center.duty.change("1003", "paused", "lunch", actor="agent:1003", via="test")
    board = console.center.board
    assert board is not None
    # Asterisk's QueueMemberPause says so (the fake AMI sends no events of its own)
    data = await after(
        console,
        event(
            "QueueMemberPause", Queue="agent-1003", Interface="Local/1003@cc-agent-offer/n", Paused="1", Reason="lunch"
        ),
        lambda d: agent(d, "1003")["state"] == "paused",
    )
    row = agent(data, "1003")
    assert (row["state"], row["reason"]) == ("paused", "lunch")


def test_the_first_state_that_holds_wins() -> None:
    on = Duty(logged_in=True)
    assert agent_state(Duty(logged_in=False), 6, ringing=True, screening=True, talking=True) == "logged_out"
    assert agent_state(Duty(True, True, "lunch"), 2, ringing=False, screening=False, talking=True) == "paused"
    assert agent_state(on, 2, ringing=True, screening=True, talking=True) == "screening"
    assert agent_state(on, 1, ringing=True, screening=False, talking=True) == "on_call"
    assert agent_state(on, 6, ringing=False, screening=False, talking=False) == "ringing"
    assert agent_state(on, 5, ringing=False, screening=False, talking=False) == "unreachable"
    assert agent_state(on, None, ringing=False, screening=False, talking=False) == "available"
