"""Two Asterisk 22 nodes behind Kamailio, one PostgreSQL store, one pool of ten SIP agents (issue 15), all real and
on loopback (``tests/asterisk/cluster.py``): SIPp callers dial Kamailio, which spreads them over the nodes; the
agents' SIPp softphones are registered with Kamailio, so both nodes ring the same phones.

What each test shows:
- forty callers arriving together are all answered and rate their agent, and no agent is ever held by two calls
  at once: the store's reservation log, and every ring on either node went through the arbiter;
- a rating removed through one node moves the agent's penalty in the other node's queues within a second;
- one node's service killed: its Asterisk's next caller still reaches a human (the shared-queue fallback), and
  the reservations its calls held are freed;
- one node's Asterisk killed mid-call: the other node's callers finish, new callers reach the survivor, the dead
  node's calls are closed as interrupted with their ratings owed, nothing doubled.

The tests run in this order and share the cluster (starting one takes about 10 s); each leaves it whole but the
last, which kills a node's Asterisk.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from panoramisk.message import Message

from callcenter.cluster.bus import notify_once
from callcenter.demo.script import event
from callcenter.demo.seed import seed_history
from callcenter.store.models import CLIENT_TO_AGENT
from tests.asterisk.cluster import AGENTS, NODE_A, NODE_B, ClusterWorld, cluster_world
from tests.asterisk.conftest import PROJECT

pytestmark = [pytest.mark.asterisk, pytest.mark.cluster, pytest.mark.asyncio(loop_scope="session")]

A, B = NODE_A, NODE_B
RATING = "4534"
REMOVAL = ("--direction", "caller-to-agent", "--reason", "test: removed")
CLI = (sys.executable, "-m", "callcenter.cli", "--config", str(PROJECT / "callcenter/demo/callcenter.toml"))
CALLERS = 40


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ClusterWorld]:
    async with cluster_world(tmp_path_factory.mktemp("cluster")) as running:
        yield running
        # whatever the faults did, no service logged an error of its own (a dead task, a failed beat, a crash)
        for name, service in running.services.items():
            errors = [e for e in service.log if e.get("level") in {"error", "critical"}]
            assert errors == [], (name, errors[:5])


def now() -> datetime:
    return datetime.now(UTC)


async def journey(world: ClusterWorld, work: Path, number: str) -> tuple[str, str]:
    """A caller through Kamailio: support, first available, connected, rates the agent once they hang up."""
    async with world.caller(work, ["1", "0", RATING], from_user=number) as caller:
        node = caller.uniqueid.rsplit("-", 1)[0]
        await caller.answer("cc/choose-service", "1", timeout=30)
        await caller.answer("cc/first-available", "0", timeout=30)
        asked = await caller.answer("cc/please-rate", RATING, timeout=240)
        assert asked[0] == "cc/please-rate", asked
        await caller.driver.log.wait_for(
            event("UserEvent", UserEvent="CallCenterRated", Call=caller.uniqueid, Direction=CLIENT_TO_AGENT),
            timeout=30,
        )
        await caller.hangup()
        await caller.driver.log.wait_for(
            event("UserEvent", UserEvent="CallCenterCallEnded", Call=caller.uniqueid), timeout=30
        )
        return node, caller.uniqueid


def double_holds(log: list[tuple[str, str, str, datetime, str]]) -> list[str]:
    """Every moment the reservation log shows an agent taken by a call while another call held them."""
    holder: dict[str, str] = {}
    doubles = []
    for agent, call, node, at, action in log:
        held = holder.get(agent)
        if action == "reserved":
            if held is not None and held != call:
                doubles.append(f"{at.isoformat()} {agent}: {call} ({node}) while {held} held them")
            holder[agent] = call
        elif action == "released" and held == call:
            del holder[agent]
    return doubles


def rings(world: ClusterWorld, marks: dict[str, int]) -> list[tuple[str, Message]]:
    return [
        (name, e)
        for name, d in world.drivers.items()
        for e in d.log.matching(event("UserEvent", UserEvent="CallCenterRing"), since=marks[name])
    ]


async def all_released(world: ClusterWorld, timeout: float = 15.0) -> None:
    async with asyncio.timeout(timeout):
        while await world.db.live_reservations(now()):
            await asyncio.sleep(0.2)


async def test_forty_callers_over_two_nodes_are_answered_and_no_agent_is_held_by_two_calls(
    world: ClusterWorld, tmp_path: Path
) -> None:
    since = now() - timedelta(seconds=1)
    marks = {name: d.log.mark() for name, d in world.drivers.items()}
    started = time.monotonic()
    done = await asyncio.gather(*(journey(world, tmp_path / f"caller-{i}", f"55530{i:02d}") for i in range(CALLERS)))
    took = time.monotonic() - started
    per_node = Counter(node for node, _ in done)
    # Kamailio's round-robin: both nodes took callers
    assert set(per_node) == {n.name for n in world.local.nodes}, per_node
    for _, uniqueid in done:
        call = await world.db.get_call(uniqueid)
        assert call is not None
        assert (call.outcome, call.agent_id in AGENTS) == ("answered", True), call
        assert await world.db.get_evaluation(uniqueid, CLIENT_TO_AGENT) is not None, uniqueid
    await all_released(world)
    log = await world.db.reservation_log(since)
    assert double_holds(log) == []
    # every phone that rang on either node was reserved for that call first
    rung = rings(world, marks)
    assert rung, "no ring seen"
    assert [e for _, e in rung if e.get("Reserved") != "HELD"] == []
    reserved = [r for r in log if r[4] == "reserved"]
    refused = [r for r in log if r[4] == "refused"]
    assert len(reserved) >= CALLERS
    assert await world.db.check_invariants() == []
    print(
        f"\n{CALLERS} callers in {took:.1f} s: {dict(per_node)}; {len(rung)} rings, {len(reserved)} reservations, "
        f"{len(refused)} refused (a race the store decided), 0 double holds; agents used: "
        f"{len({r[0] for r in reserved})}"
    )


async def queue_penalty(world: ClusterWorld, node: str, agent: str) -> int:
    process = world.local.node(node).sandbox.process
    assert process is not None
    shown = await process.cli("queue show service-support")
    found = re.search(rf"^\s*{agent} \(Local/{agent}@cc-agent-offer/n.*with penalty (\d+)", shown, re.MULTILINE)
    assert found is not None, shown
    return int(found[1])


async def test_a_rating_removed_through_one_node_moves_the_penalty_on_the_other_within_a_second(
    world: ClusterWorld,
) -> None:
    agent = "2001"
    before = await queue_penalty(world, B, agent)
    # one very bad rating of Ada, stored behind the services' backs and announced as a node would
    await seed_history(world.db, {agent: [(1, 1, 1, 1)] * 3}, tag="pen")
    mark = world.drivers[B].log.mark()
    await notify_once(world.local.store_url, "test", "rated", agent)
    moved = await world.drivers[B].log.wait_for(
        event("QueueMemberPenalty", Queue="service-support", MemberName=agent), since=mark, timeout=10
    )
    worse = int(str(moved.get("Penalty")))
    assert worse != before
    # an operator removes those ratings with node A's CLI: node A pushes its own penalty, node B hears the store
    a = world.local.node(A)
    _, env = world.local.service_argv(a)
    for n in range(3):
        marks = {name: d.log.mark() for name, d in world.drivers.items()}
        removed = await asyncio.to_thread(
            subprocess.run,
            [*CLI, "evaluations", "remove", "--call", f"pen-{agent}-{n}", *REMOVAL],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert removed.returncode == 0, removed.stderr
    after = await queue_penalty(world, A, agent)
    assert after == before
    # the last removal, as each node saw it: node A's push (its CallCenterRatingDeleted, sent after the commit),
    # then node B's own QueueMemberPenalty, moved by the store's notification alone
    a_log, b_log = world.drivers[A].log, world.drivers[B].log
    deleted = await a_log.wait_for(
        event("UserEvent", UserEvent="CallCenterRatingDeleted", Agent=agent), since=marks[A], timeout=5
    )
    moved = await b_log.wait_for(
        event("QueueMemberPenalty", Queue="service-support", MemberName=agent, Penalty=str(after)),
        since=marks[B],
        timeout=5,
    )
    lag = b_log.times[b_log.events.index(moved)] - a_log.times[a_log.events.index(deleted)]
    assert await queue_penalty(world, B, agent) == after
    assert lag < 1.0, f"node B showed the new penalty {lag:.3f} s after node A"
    print(f"\npenalty {before} -> {worse} -> {after}; node B's queue followed node A's removal in {lag * 1000:.0f} ms")


def node_of(uniqueid: str) -> str:
    return uniqueid.rsplit("-", 1)[0]


async def connected_on(
    world: ClusterWorld, work: Path, want: str, *, first_number: int, stack: contextlib.AsyncExitStack
) -> tuple[str, str]:
    """A caller choosing first available who lands on node ``want`` and is talking to an agent: (uniqueid, agent).
    Callers Kamailio sends to the other node meanwhile make their whole journey."""
    for n in range(4):
        number = f"{first_number + n}"
        caller = await stack.enter_async_context(
            world.caller(work / f"caller-{number}", ["1", "0", RATING], from_user=number)
        )
        if node_of(caller.uniqueid) != want:
            await caller.answer("cc/choose-service", "1", timeout=30)
            await caller.answer("cc/first-available", "0", timeout=30)
            await caller.answer("cc/please-rate", RATING, timeout=60)
            await caller.hangup()
            continue
        mark = caller.driver.log.mark()
        await caller.answer("cc/choose-service", "1", timeout=30)
        await caller.answer("cc/first-available", "0", timeout=30)
        connect = await caller.driver.log.wait_for(
            event("AgentConnect", Uniqueid=caller.uniqueid), since=mark, timeout=60
        )
        return caller.uniqueid, str(connect.get("MemberName"))
    raise AssertionError(f"no caller landed on {want} in four tries")


async def test_a_nodes_service_killed_its_callers_still_reach_a_human_and_its_reservations_are_freed(
    world: ClusterWorld, tmp_path: Path
) -> None:
    b = world.services[B]
    async with contextlib.AsyncExitStack() as stack:
        talking, agent = await connected_on(world, tmp_path, A, first_number=5554000, stack=stack)
        held = await world.db.reservation_of(agent, now())
        assert held is not None
        assert (held.call_uniqueid, held.node) == (talking, A)
        seen = len(b.log)
        world.services[A].kill()
        await world.services[A].exited()
        del world.services[A]
        # node B sees node A silent, frees what its calls held and closes its calls (the caller still talks on
        # node A's Asterisk: "interrupted", the call outlived its service)
        await b.logged("node_reaped", timeout=20, since=seen, node=A)
        assert await world.db.reservation_of(agent, now()) is None
        call = await world.db.get_call(talking)
        assert call is not None
        assert (call.outcome, call.agent_id) == ("interrupted", agent)
        # Kamailio still sends callers to node A (its Asterisk answers OPTIONS): the dialplan's fallback takes
        # them to a human, rung without the arbiter (nobody answers the reserve route there)
        for n in range(4):
            number = f"{5554100 + n}"
            caller = await stack.enter_async_context(world.caller(tmp_path / f"fb-{number}", [], from_user=number))
            if node_of(caller.uniqueid) == A:
                break
        assert node_of(caller.uniqueid) == A
        a_log = world.drivers[A].log
        await a_log.wait_for(event("UserEvent", UserEvent="CallCenterFallbackQueue", Call=caller.uniqueid), timeout=30)
        connect = await a_log.wait_for(event("AgentConnect", Uniqueid=caller.uniqueid), timeout=60)
        assert str(connect.get("MemberName")) in AGENTS
    # node A's service back: it beats again and takes calls again, and the store is whole
    await world.start_service(A)
    number = "5554200"
    for n in range(3):
        placed = await journey(world, tmp_path / f"after-{n}", f"{int(number) + n}")
        if placed[0] == A:
            break
    assert placed[0] == A
    await all_released(world)
    assert await world.db.check_invariants() == []


async def test_a_nodes_asterisk_killed_mid_call_the_survivor_serves_and_the_dead_nodes_calls_are_closed(
    world: ClusterWorld, tmp_path: Path
) -> None:
    b = world.services[B]
    since = now() - timedelta(seconds=1)
    connected: dict[str, str] = {}  # uniqueid -> agent
    both = asyncio.Event()

    async def talk(n: int) -> str:
        number = f"{5555000 + n}"
        async with world.caller(tmp_path / f"c-{number}", ["1", "0", RATING], from_user=number) as caller:
            mark = caller.driver.log.mark()
            await caller.answer("cc/choose-service", "1", timeout=30)
            await caller.answer("cc/first-available", "0", timeout=30)
            connect = await caller.driver.log.wait_for(
                event("AgentConnect", Uniqueid=caller.uniqueid), since=mark, timeout=60
            )
            connected[caller.uniqueid] = str(connect.get("MemberName"))
            if {node_of(u) for u in connected} == {A, B}:
                both.set()
            await caller.answer("cc/please-rate", RATING, timeout=60)
            await caller.hangup()
            await caller.driver.log.wait_for(event("UserEvent", UserEvent="CallCenterCallEnded", Call=caller.uniqueid))
            return caller.uniqueid

    callers = [asyncio.create_task(talk(n)) for n in range(4)]
    await asyncio.wait_for(both.wait(), 60)
    a = world.local.node(A)
    assert a.sandbox.process is not None
    seen = len(b.log)
    await a.sandbox.process.kill()
    killed = time.monotonic()
    # the test's own AMI link to the dead node goes too (it would only retry)
    await world.drivers.pop(A).link.close()
    # a new caller right away: Kamailio's INVITE to node A goes unanswered, the failure route sends it to node B
    survivor, first_new = await journey(world, tmp_path / "new-0", "5555100")
    assert survivor == B
    new_answered = world.drivers[B].log.wait_for(event("Newchannel", Uniqueid=first_new))
    answered_at = world.drivers[B].log.times[world.drivers[B].log.events.index(await new_answered)]
    failover = answered_at - killed
    # the next one finds node A marked inactive by the probes
    assert (await journey(world, tmp_path / "new-1", "5555101"))[0] == B
    reaped = await b.logged("node_reaped", timeout=30, since=seen, node=A)
    # node B's callers finished as always; node A's are gone with their Asterisk
    ended_b = [t.result() for t in callers if t.done() and not t.cancelled() and t.exception() is None]
    dead = [u for u in connected if node_of(u) == A]
    for t in callers:
        if not t.done():
            t.cancel()
    await asyncio.gather(*callers, return_exceptions=True)
    assert all(node_of(u) == B for u in ended_b)
    assert dead
    for uniqueid in dead:
        call = await world.db.get_call(uniqueid)
        assert call is not None
        assert (call.outcome, call.agent_id) == ("interrupted", connected[uniqueid])
        assert call.answered_at is not None
        # the caller still owes the agent a rating, asked on their next call
        assert call.client_id is not None
        owed = await world.db.unrated_calls(CLIENT_TO_AGENT, since=since, client_id=call.client_id)
        assert [c.uniqueid for c in owed] == [uniqueid]
    # nothing open, nothing held, nothing doubled
    assert await world.db.open_calls(started_before=now(), node=A) == []
    await all_released(world)
    assert double_holds(await world.db.reservation_log(since)) == []
    assert await world.db.check_invariants() == []
    print(
        f"\nnode A's Asterisk killed with {len(connected)} callers talking ({len(dead)} on node A): the next caller "
        f"reached node B {failover:.2f} s later; node B reaped node A's {reaped.get('calls')} open calls "
        f"(interrupted, ratings owed) and freed {reaped.get('agents_freed')}"
    )


def sip_request(proxy: str, method: str, uri: str, *, to_tag: str = "", route: str = "", from_uri: str = "") -> str:
    """One SIP request to Kamailio from a socket that is no node; its first response line."""
    host, port = proxy.rsplit(":", 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(3)
        me = f"127.0.0.1:{s.getsockname()[1]}"
        lines = [
            f"{method} {uri} SIP/2.0",
            f"Via: SIP/2.0/UDP {me};branch=z9hG4bK{time.monotonic_ns()}",
            "Max-Forwards: 70",
            f"From: <{from_uri or f'sip:5550999@{me}'}>;tag=attacker",
            f"To: <{uri}>" + (f";tag={to_tag}" if to_tag else ""),
            f"Call-ID: forged-{time.monotonic_ns()}@{me}",
            f"CSeq: 1 {method}",
            f"Contact: <sip:5550999@{me}>",
            *([f"Route: {route}"] if route else []),
            "Content-Length: 0",
        ]
        s.sendto(("\r\n".join(lines) + "\r\n\r\n").encode(), (host, int(port)))
        while True:
            reply = s.recv(4096).decode(errors="replace").split("\r\n", 1)[0]
            if not reply.startswith("SIP/2.0 1"):  # past 100 Trying
                return reply


async def test_kamailio_lets_no_caller_ring_an_agent_directly_or_forge_a_dialog(world: ClusterWorld) -> None:
    proxy = world.local.proxy
    phone = f"sip:agent{AGENTS[0]}@{proxy}"
    assert (await asyncio.to_thread(sip_request, proxy, "INVITE", phone)).startswith("SIP/2.0 403")
    # an in-dialog request for a dialog Kamailio never set up: refused, not relayed to the phone by its Route
    forged = await asyncio.to_thread(sip_request, proxy, "INVITE", phone, to_tag="made-up", route=f"<sip:{proxy};lr>")
    assert forged.startswith("SIP/2.0 403"), forged
    bye = await asyncio.to_thread(sip_request, proxy, "BYE", phone, to_tag="made-up", route=f"<sip:{proxy};lr>")
    assert bye.startswith("SIP/2.0 403"), bye
    # and a REGISTER as an agent without their password is challenged, one for nobody in the roster refused
    register = functools.partial(sip_request, proxy, "REGISTER")
    assert (await asyncio.to_thread(register, phone, from_uri=phone)).startswith("SIP/2.0 401")
    stranger = f"sip:agent9999@{proxy}"
    assert (await asyncio.to_thread(register, stranger, from_uri=stranger)).startswith("SIP/2.0 403")
