"""Both cores on a real Asterisk 22: ``[service] workers = 2`` behind one FastAGI port. Calls spread over both
workers (each FastAGI session's log line carries its worker), every call is recorded once and rated once, and the
store's invariant check (``callcenter db check``) is clean; SIGTERM stops both workers."""

from __future__ import annotations

import asyncio
import os
import sys
from collections import Counter
from pathlib import Path

import pytest

from callcenter.demo.script import Driver, event
from callcenter.store import SqliteStore
from callcenter.store.models import CLIENT_TO_AGENT
from tests.asterisk.conftest import PROJECT, AsteriskUnderTest
from tests.asterisk.ivr import AGENT_MENU, offered
from tests.asterisk.service import service_process

pytestmark = [
    pytest.mark.asterisk,
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.usefixtures("scripted_agents"),
]

CALLS = 4


async def test_two_workers_share_the_calls_and_record_each_once(
    asterisk: AsteriskUnderTest, driver: Driver, tmp_path: Path
) -> None:
    store_path = tmp_path / "cc.db"
    callers = []
    async with service_process(asterisk, store_path, ready="workers_started", SERVICE_WORKERS="2") as service:
        for n in range(CALLS):
            mark = driver.log.mark()
            caller = await driver.call("800", f"555061{n}")
            await caller.answer("cc/choose-service", "1")
            menu = await caller.prompt(AGENT_MENU)
            chosen = offered(menu)[0]
            await caller.press("1")
            await driver.log.wait_for(event("AgentConnect", Queue=f"agent-{chosen}"), since=mark, timeout=30)
            await caller.answer("cc/please-rate", "4534", timeout=30)
            await caller.ended()
            callers.append((caller.uniqueid, chosen))

        # each worker served a share of the FastAGI sessions (inbound, screen, connected, after-queue, call-end);
        # the last call's hangup handler may still be on its way through the service's log pipe
        def served() -> Counter[str]:
            return Counter(str(e.get("worker")) for e in service.log if e.get("event") == "agi_session_start")

        async with asyncio.timeout(10), service._changed:
            await service._changed.wait_for(lambda: sum(served().values()) >= CALLS * 5)
        sessions = served()
        assert sorted(sessions) == ["0", "1"], sessions
        assert sum(sessions.values()) >= CALLS * 5
        # both workers wired and started, each once
        started = {str(e.get("worker")) for e in service.log if e.get("event") == "callcenter_started"}
        assert started == {"0", "1"}
        service.terminate()
        assert await service.exited() == 0
    stopping = sorted(str(e.get("worker")) for e in service.log if e.get("event") == "worker_stopping")
    assert stopping == ["0", "1"]
    store = await SqliteStore.open_existing(store_path, readonly=True)
    try:
        calls = await store.list_calls(limit=100)
        assert sorted(c.uniqueid for c in calls) == sorted(u for u, _ in callers)  # each call once
        for uniqueid, agent in callers:
            call = await store.get_call(uniqueid)
            assert call is not None
            assert (call.outcome, call.agent_id) == ("answered", agent)
            evaluation = await store.get_evaluation(uniqueid, CLIENT_TO_AGENT)
            assert evaluation is not None
            assert [e.action for e in await store.evaluation_history(evaluation.id)] == ["create"]
    finally:
        await store.close()
    check = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "callcenter.cli", "--config", str(PROJECT / "callcenter/demo/callcenter.toml"),
        "db", "check",
        env={**os.environ, **asterisk.env, "CALLCENTER_STORE_PATH": str(store_path)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    out, _ = await check.communicate()
    assert check.returncode == 0, out.decode()
    assert "aggregates consistent" in out.decode()
