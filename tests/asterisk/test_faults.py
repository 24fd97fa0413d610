"""Faults on a real Asterisk 22: the service down or dying, and what every caller then gets. Each test asserts
what the caller heard or what Asterisk did with them (a human, or a clear goodbye), and what was stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from callcenter.ami.link import AMIActionError
from callcenter.ami.reaper import CallReaper
from callcenter.app import CallCenter, serving
from callcenter.demo.script import Driver, event
from callcenter.demo.seed import DEMO_HISTORY, seed_history
from callcenter.store import Call, SqliteStore
from callcenter.store.models import CLIENT_TO_AGENT
from callcenter.usecases.ports import utcnow
from tests.asterisk.conftest import AsteriskUnderTest, store_at
from tests.asterisk.ivr import agent_on_a_call, offered, store_of, wait_for_busy_favourite
from tests.asterisk.service import service_process

pytestmark = [
    pytest.mark.asterisk,
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.usefixtures("scripted_agents"),
]

SHARED = "service-support"
AGENTS = ("1001", "1002", "1003")  # the demo's first service: where a caller goes before choosing one


async def members_of(driver: Driver, queue: str) -> list[str]:
    listing = await driver.link.send_list({"Action": "QueueStatus", "Queue": queue})
    return [str(m.get("Location") or m.get("Interface")) for m in listing if m.get("Event") == "QueueMember"]


async def only_member(driver: Driver, queue: str, agent: str | None) -> None:
    """Make ``agent`` (or nobody) the one member of ``queue``, as the service would have left it: Asterisk keeps
    its members whatever happens to the service."""
    for interface in await members_of(driver, queue):
        await driver.link.send({"Action": "QueueRemove", "Queue": queue, "Interface": interface})
    if agent is None:
        return
    await driver.link.send(
        {"Action": "Setvar", "Variable": f"DEVICE_STATE(Custom:agent-{agent})", "Value": "NOT_INUSE"}
    )
    with contextlib.suppress(AMIActionError):
        await driver.link.send(
            {
                "Action": "QueueAdd",
                "Queue": queue,
                "Interface": f"Local/{agent}@cc-agent-offer/n",
                "MemberName": agent,
                "StateInterface": f"Custom:agent-{agent}",
                "Penalty": "0",
            }
        )


async def test_fastagi_down_the_caller_reaches_a_human_in_the_shared_queue_unscreened(driver: Driver) -> None:
    # no `center` fixture: nothing listens on the FastAGI port, as when the service is down
    await only_member(driver, SHARED, "1001")
    mark = driver.log.mark()
    caller = await driver.call("800", "5550501")
    fallback = await driver.log.wait_for(event("UserEvent", UserEvent="CallCenterFallback"), since=mark)
    assert fallback.get("AGISTATUS") == "FAILURE"
    queued = await driver.log.wait_for(event("UserEvent", UserEvent="CallCenterFallbackQueue"), since=mark)
    assert (queued.get("Call"), queued.get("Queue")) == (caller.uniqueid, SHARED)
    join = await driver.log.wait_for(event("QueueCallerJoin", Uniqueid=caller.uniqueid), since=mark)
    assert join.get("Queue") == SHARED
    connect = await driver.log.wait_for(event("AgentConnect", Uniqueid=caller.uniqueid), since=mark, timeout=30)
    assert (connect.get("Queue"), connect.get("MemberName")) == (SHARED, "1001")
    # the agent talks, hangs up; the caller hears the goodbye and the call ends
    await caller.ended()
    # the screening, which needs the service, was skipped rather than tried
    assert not driver.log.matching(event("AGIExecStart"), since=mark)


async def test_fastagi_down_and_nobody_logged_in_is_a_clear_goodbye(driver: Driver) -> None:
    await only_member(driver, SHARED, None)
    mark = driver.log.mark()
    caller = await driver.call("800", "5550502")
    goodbye = await driver.log.wait_for(event("UserEvent", UserEvent="CallCenterFallbackGoodbye"), since=mark)
    assert (goodbye.get("Call"), goodbye.get("Queue")) == (caller.uniqueid, SHARED)
    await caller.ended()
    assert not driver.log.matching(event("QueueCallerJoin", Uniqueid=caller.uniqueid), since=mark)


async def test_every_agent_refusing_in_turn_offers_the_shared_queue_before_any_goodbye(
    center: CallCenter, driver: Driver
) -> None:
    store = store_of(center)
    await seed_history(store, DEMO_HISTORY)
    for agent in AGENTS:
        await driver.set_global(f"CC_DEMO_{agent}", "decline")
    mark = driver.log.mark()
    caller = await driver.call("800", "5550503")
    await caller.answer("cc/choose-service", "1")
    refused: list[str] = []
    for _ in AGENTS:
        menu = await caller.prompt("cc/first-available")
        choice = offered(menu)[0]
        assert choice not in refused
        await caller.press("1")
        await caller.prompt("cc/declined")
        refused.append(choice)
    assert sorted(refused) == sorted(AGENTS)
    # nobody left to choose, but they are all still the service's agents: the shared queue, not a goodbye
    await caller.prompt("cc/shared-queue")
    await driver.log.wait_for(event("QueueCallerJoin", Uniqueid=caller.uniqueid, Queue=SHARED), since=mark)
    await driver.set_global("CC_DEMO_1002", "accept")
    connect = await driver.log.wait_for(event("AgentConnect", Uniqueid=caller.uniqueid), since=mark, timeout=40)
    assert (connect.get("Queue"), connect.get("MemberName")) == (SHARED, "1002")
    await caller.answer("cc/please-rate", "*", timeout=30)
    await caller.ended()
    call = await store.get_call(caller.uniqueid)
    assert call is not None
    assert (call.outcome, call.agent_id, call.queue) == ("answered", "1002", SHARED)
    assert not [p for p in caller.heard if "cc/no-agents" in p and "cc/goodbye" in p]


async def test_a_busy_favourite_who_comes_free_but_never_answers_releases_the_waiting_caller(
    center: CallCenter, driver: Driver
) -> None:
    """The caller waits for Alice, who is on a call (no ring limit in her own queue). She comes free, her phone
    rings and rings out: the caller is told and offered the others at once, not rung at Alice again and again."""
    await driver.set_global("CC_DEMO_1001", "noanswer")
    await agent_on_a_call(driver, "1001")
    try:
        mark = driver.log.mark()
        caller = await driver.call("800", "5550504")
        await wait_for_busy_favourite(caller)
        await driver.log.wait_for(event("QueueCallerJoin", Uniqueid=caller.uniqueid), since=mark)
        await driver.set_global("DEVICE_STATE(Custom:agent-1001)", "NOT_INUSE")
        await driver.log.wait_for(event("AgentRingNoAnswer", Queue="agent-1001"), since=mark, timeout=30)
        await driver.log.wait_for(event("QueueCallerLeave", Uniqueid=caller.uniqueid), since=mark, timeout=30)
        assert await caller.prompt("cc/not-answering", timeout=30) == ["cc/agent-1001", "cc/not-answering"]
        again = await caller.prompt("cc/first-available")
        assert "1001" not in offered(again)
        assert len(driver.log.matching(event("AgentCalled", Queue="agent-1001"), mark)) == 1
        await caller.hangup()
        await caller.ended()
        call = await store_of(center).get_call(caller.uniqueid)
        assert call is not None
        assert call.outcome == "no_answer"
    finally:
        await driver.set_global("DEVICE_STATE(Custom:agent-1001)", "NOT_INUSE")


# --- the service killed (SIGKILL) mid-call ---------------------------------------------------------------------


async def reaped(asterisk: AsteriskUnderTest, store_path: Path, uniqueid: str) -> Call:
    """Start the service again on ``store_path``; return ``uniqueid``'s row once its reaper closed it."""
    async with service_process(asterisk, store_path, JOURNEY_REAP_INTERVAL="1", LOG_LEVEL="debug") as service:
        await service.logged("call_reaped", call=uniqueid)
    store = await SqliteStore.open_existing(store_path, readonly=True)
    try:
        call = await store.get_call(uniqueid)
        assert await store.check_invariants() == []
    finally:
        await store.close()
    assert call is not None
    return call


async def test_service_killed_in_the_agent_menu_the_caller_reaches_a_human_and_the_row_is_closed(
    asterisk: AsteriskUnderTest, driver: Driver, tmp_path: Path
) -> None:
    store_path = tmp_path / "cc.db"
    mark = driver.log.mark()
    async with service_process(asterisk, store_path) as service:
        caller = await driver.call("800", "5550510")
        await caller.answer("cc/choose-service", "1")
        await caller.prompt("cc/first-available")
        service.kill()
        await service.exited()
    # the menu's Read() plays to its end, then AGI() finds the service gone: the shared queue of the service the
    # caller chose, unscreened, and one of its agents answers
    queued = await driver.log.wait_for(event("UserEvent", UserEvent="CallCenterFallbackQueue"), since=mark, timeout=60)
    assert (queued.get("Call"), queued.get("Queue")) == (caller.uniqueid, SHARED)
    connect = await driver.log.wait_for(event("AgentConnect", Uniqueid=caller.uniqueid), since=mark, timeout=30)
    await caller.ended()
    # back up, the service closes the row nobody closed: answered by that agent (queue_log), interrupted
    call = await reaped(asterisk, store_path, caller.uniqueid)
    assert (call.outcome, call.agent_id) == ("interrupted", connect.get("MemberName"))
    assert call.answered_at is not None


async def test_service_killed_at_the_rating_prompt_the_caller_hears_a_goodbye_and_the_rating_stays_owed(
    asterisk: AsteriskUnderTest, driver: Driver, tmp_path: Path
) -> None:
    store_path = tmp_path / "cc.db"
    mark = driver.log.mark()
    async with service_process(asterisk, store_path) as service:
        caller = await driver.call("800", "5550511")
        await caller.answer("cc/choose-service", "1")
        await caller.answer("cc/first-available", "1")
        await caller.prompt("cc/please-rate", timeout=30)
        service.kill()
        await service.exited()
        await caller.press("4444")
    await caller.ended()
    # the caller talked to an agent: their business is done, so no "technical problem", no queue again
    assert not driver.log.matching(event("UserEvent", UserEvent="CallCenterFallback"), since=mark)
    # the row was closed when the agent hung up, before the rating was asked for; the rating is owed
    store = await SqliteStore.open_existing(store_path, readonly=True)
    try:
        call = await store.get_call(caller.uniqueid)
        assert call is not None
        assert (call.outcome, call.answered_at is not None) == ("answered", True)
        assert await store.get_evaluation(caller.uniqueid, CLIENT_TO_AGENT) is None
        assert await store.check_invariants() == []
    finally:
        await store.close()
    # and asked for on the caller's next call
    async with service_process(asterisk, store_path):
        again = await driver.call("800", "5550511")
        reminder = await again.prompt("cc/unrated-call")
        assert reminder[:2] == ["cc/unrated-call", f"cc/agent-{call.agent_id}"]
        await again.hangup()
        await again.ended()


async def test_sigterm_refuses_new_calls_to_the_fallback_and_drains_the_running_ones(
    asterisk: AsteriskUnderTest, driver: Driver, tmp_path: Path
) -> None:
    """SIGTERM: a call that arrives while the service drains is put in the shared queue at once (FastAGI refuses
    it), a caller still in a menu when the drain time is up takes the same way to a human, and the service exits
    cleanly; nobody hears the "technical problem" goodbye."""
    mark = driver.log.mark()
    async with service_process(asterisk, tmp_path / "cc.db", AGI_DRAIN_SECONDS="3") as service:
        waiting = await driver.call("800", "5550520")
        await waiting.answer("cc/choose-service", "1")
        await waiting.prompt("cc/first-available")
        service.terminate()
        await service.logged("agi_server_stopping")
        late = await driver.call("800", "5550521")
        assert await service.exited() == 0
    for caller in (late, waiting):
        queued = await driver.log.wait_for(
            event("UserEvent", UserEvent="CallCenterFallbackQueue", Call=caller.uniqueid), since=mark, timeout=60
        )
        assert queued.get("Queue") == SHARED
        await driver.log.wait_for(event("AgentConnect", Uniqueid=caller.uniqueid), since=mark, timeout=60)
    for caller in (late, waiting):
        await caller.ended(timeout=60)
    assert not driver.log.matching(event("UserEvent", UserEvent="CallCenterFallbackGoodbye"), since=mark)


# --- the database locked by another process -------------------------------------------------------------------


async def test_a_rating_given_while_another_process_locks_the_database_is_read_back_at_once_and_stored_once(
    center: CallCenter, driver: Driver
) -> None:
    store = store_of(center)
    assert center.recorder is not None
    caller = await driver.call("800", "5550530")
    await caller.answer("cc/choose-service", "1")
    await caller.answer("cc/first-available", "1")
    await caller.prompt("cc/please-rate", timeout=30)
    # another process (a backup, an operator's sqlite3 shell) takes the write lock and keeps it
    locker = sqlite3.connect(center.config.store.path, timeout=0, isolation_level=None)
    try:
        locker.execute("BEGIN EXCLUSIVE")
        await caller.press("5435")
        # the caller hears their scores read back while the lock is still held: the keys were kept, not lost
        readback = await caller.prompt("cc/you-rated", timeout=20)
        assert readback[-1] == "cc/thank-you"
        assert await store.get_evaluation(caller.uniqueid, CLIENT_TO_AGENT) is None
        assert center.recorder.count == 1
    finally:
        locker.rollback()
        locker.close()
    await caller.hangup()
    await caller.ended()
    # the lock is gone: the rating is written, once
    assert await center.recorder.flush()
    assert await center.recorder.flush()
    evaluation = await store.get_evaluation(caller.uniqueid, CLIENT_TO_AGENT)
    assert evaluation is not None
    assert dict(evaluation.scores) == {"attitude": 5, "knowledge": 4, "availability": 3, "other": 5}
    assert [e.action for e in await store.evaluation_history(evaluation.id)] == ["create"]


async def test_service_killed_while_the_caller_waits_for_a_busy_agent_the_bridge_happens_and_is_recorded(
    asterisk: AsteriskUnderTest, driver: Driver, tmp_path: Path
) -> None:
    """The caller waits for Alice (on a call); the service dies; Alice comes free while it is still down: app_queue
    rings her, her screening cannot run and lets the call through, they talk. Back up, the service records the call
    as answered by Alice (queue_log's CONNECT), so its ratings are owed to both."""
    store_path = tmp_path / "cc.db"
    mark = driver.log.mark()
    try:
        async with service_process(asterisk, store_path) as service:
            # the service has made Alice a member; now she is on another call
            await agent_on_a_call(driver, "1001")
            caller = await driver.call("800", "5550512")
            await wait_for_busy_favourite(caller)
            await driver.log.wait_for(event("QueueCallerJoin", Uniqueid=caller.uniqueid), since=mark)
            service.kill()
            await service.exited()
        await driver.set_global("DEVICE_STATE(Custom:agent-1001)", "NOT_INUSE")
        connect = await driver.log.wait_for(event("AgentConnect", Uniqueid=caller.uniqueid), since=mark, timeout=30)
        assert connect.get("MemberName") == "1001"
        await caller.ended(timeout=30)
    finally:
        await driver.set_global("DEVICE_STATE(Custom:agent-1001)", "NOT_INUSE")
    call = await reaped(asterisk, store_path, caller.uniqueid)
    assert (call.outcome, call.agent_id) == ("interrupted", "1001")
    assert call.answered_at is not None


async def test_asterisk_killed_with_a_caller_waiting_the_row_is_closed_as_interrupted(
    center: CallCenter, driver: Driver, asterisk: AsteriskUnderTest
) -> None:
    store = store_of(center)
    center.stop_reaping()  # this test scans with a reaper of its own, on its own clock
    await agent_on_a_call(driver, "1001")
    try:
        mark = driver.log.mark()
        caller = await driver.call("800", "5550513")
        await wait_for_busy_favourite(caller)
        await driver.log.wait_for(event("QueueCallerJoin", Uniqueid=caller.uniqueid), since=mark)
        # a crash: no hangup handler runs, so nothing closes the caller's row
        process = asterisk.sandbox.process
        assert process is not None
        done = center.queues.resyncs
        await process.kill()
        await process.start(asterisk.config.asterisk.boot_timeout)
        await center.queues.wait_resynced(done + 1, timeout=20)
        await driver.link.wait_connected(timeout=15)
    finally:
        await driver.set_global("DEVICE_STATE(Custom:agent-1001)", "NOT_INUSE")
    # the caller was cut off with Asterisk; nobody closed the row. Two scans later (an hour on this reaper's clock,
    # past its minimum age; a reaper of its own, so the service's does not scan in between), it is interrupted.
    reaper = CallReaper(
        store, center.ami, asterisk.layout.queue_log, lambda: utcnow() + timedelta(hours=1), interval=3600
    )
    assert await reaper.reap_once() == []
    closed = await reaper.reap_once()
    assert [c.uniqueid for c in closed] == [caller.uniqueid]
    call = await store.get_call(caller.uniqueid)
    assert call is not None
    assert (call.outcome, call.answered_at, call.ended_at is not None) == ("interrupted", None, True)


async def test_a_call_arriving_while_the_database_is_locked_is_served_and_recorded_when_it_is_free(
    center: CallCenter, driver: Driver
) -> None:
    """Another process holds the write lock from before the call until after it: the caller is served all the
    same (as a stranger: the store cannot tell who they are), talks to an agent and hears a goodbye; every write
    of the call is journaled and lands, in order, once the lock is gone."""
    store = store_of(center)
    assert center.recorder is not None
    locker = sqlite3.connect(center.config.store.path, timeout=0, isolation_level=None)
    try:
        locker.execute("BEGIN EXCLUSIVE")
        mark = driver.log.mark()
        caller = await driver.call("800", "5550531")
        await caller.answer("cc/choose-service", "1")
        await caller.answer("cc/first-available", "1")
        connect = await driver.log.wait_for(event("AgentConnect", Uniqueid=caller.uniqueid), since=mark, timeout=30)
        # the agent hangs up: no row to ask a rating for yet, so a plain goodbye
        await caller.prompt("cc/goodbye", timeout=30)
        await caller.ended()
        assert await store.get_call(caller.uniqueid) is None
        assert center.recorder.count >= 4  # start, service, queued, answered, ended
    finally:
        locker.rollback()
        locker.close()
    assert await center.recorder.flush()
    call = await store.get_call(caller.uniqueid)
    assert call is not None
    client = await store.get_client(call.client_id) if call.client_id else None
    assert client is not None
    assert client.number == "5550531"
    assert (call.service_id, call.agent_id, call.outcome) == ("support", connect.get("MemberName"), "answered")
    assert call.answered_at is not None


# --- AMI stalled ------------------------------------------------------------------------------------------------


class StallingProxy:
    """A TCP proxy between the service and Asterisk's AMI that can stop passing bytes while keeping the sockets
    open: an Asterisk that hangs, or a half-open connection, as the service sees it."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while chunk := await source.read(65536):
                await self.flowing.wait()
                sink.write(chunk)
                await sink.drain()
        sink.close()

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


async def test_a_stalled_ami_link_costs_the_rating_caller_nothing_and_is_recovered_within_seconds(
    asterisk: AsteriskUnderTest, driver: Driver, tmp_path: Path
) -> None:
    proxy = StallingProxy(asterisk.config.ami.port)
    config = dataclasses.replace(
        asterisk.config,
        # pings far enough apart that the stall is not noticed before the read-back is checked (it is afterwards)
        ami=dataclasses.replace(asterisk.config.ami, port=await proxy.start(), ping_interval=8),
        store=store_at(asterisk.config.store, tmp_path / "cc.db"),
        asterisk=dataclasses.replace(asterisk.config.asterisk, queue_log=asterisk.layout.queue_log),
    )
    try:
        async with serving(config, asterisk.agents) as center:
            await center.queues.wait_resynced(1, timeout=15)
            resynced = center.queues.resyncs
            # an operator moved the agents' penalties by hand: the next rating's push has something to change
            for agent in AGENTS:
                mark = driver.log.mark()
                interface = f"Local/{agent}@cc-agent-offer/n"
                await driver.link.send({"Action": "QueuePenalty", "Interface": interface, "Penalty": "9"})
                await driver.log.wait_for(event("QueueMemberPenalty", MemberName=agent, Penalty="9"), since=mark)
            caller = await driver.call("800", "5550540")
            await caller.answer("cc/choose-service", "1")
            await caller.answer("cc/first-available", "1")
            await caller.prompt("cc/please-rate", timeout=30)
            proxy.flowing.clear()  # Asterisk goes silent on the service's AMI link
            await caller.press("2222")
            # the read-back plays although the penalty push cannot reach Asterisk
            readback = await caller.prompt("cc/you-rated", timeout=20)
            assert readback[-1] == "cc/thank-you"
            # ... while that push still waits on the silent link: the caller never waited for it
            assert center.queues.pushing
            assert center.queues.resyncs == resynced
            store = store_of(center)
            evaluation = await store.get_evaluation(caller.uniqueid, CLIENT_TO_AGENT)
            assert evaluation is not None
            # the ping's deadline finds the silent link; once it flows again, the service is back and resynced
            # (which pushes the new penalty), in seconds rather than a 30 s backoff
            await center.ami.wait_disconnected(timeout=20)
            proxy.flowing.set()
            await center.queues.wait_resynced(resynced + 1, timeout=15)
            penalties = await center.penalties([evaluation.agent_id])
            listing = await driver.link.send_list({"Action": "QueueStatus", "Queue": SHARED})
            shown = {str(m.get("Name")): int(m.get("Penalty")) for m in listing if m.get("Event") == "QueueMember"}
            assert shown[evaluation.agent_id] == penalties[evaluation.agent_id]
            await caller.hangup()
            await caller.ended()
            assert await store.check_invariants() == []
    finally:
        await proxy.close()


async def test_service_killed_during_the_agents_screening_the_call_is_put_through_and_recorded(
    asterisk: AsteriskUnderTest, driver: Driver, tmp_path: Path
) -> None:
    """The agent hears the caller's reputation and has not pressed a key yet when the service dies: their leg
    takes the call anyway (a human answer beats none), they talk, and the call is recorded as theirs later."""
    store_path = tmp_path / "cc.db"
    for agent in AGENTS:
        await driver.set_global(f"CC_DEMO_{agent}", "silent")
    mark = driver.log.mark()
    async with service_process(asterisk, store_path) as service:
        caller = await driver.call("800", "5550514")
        await caller.answer("cc/choose-service", "1")
        await caller.answer("cc/first-available", "1")
        await driver.log.wait_for(
            lambda e: e.get("Event") == "AGIExecStart" and "cc/accept-decline" in str(e.get("Command")),
            since=mark,
            timeout=30,
        )
        service.kill()
        await service.exited()
    connect = await driver.log.wait_for(event("AgentConnect", Uniqueid=caller.uniqueid), since=mark, timeout=30)
    await caller.hangup()
    await caller.ended()
    call = await reaped(asterisk, store_path, caller.uniqueid)
    assert (call.outcome, call.agent_id) == ("interrupted", connect.get("MemberName"))
    assert call.answered_at is not None
