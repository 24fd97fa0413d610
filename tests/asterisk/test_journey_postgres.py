"""The caller's happy path on a real Asterisk 22 with the store on PostgreSQL: the IVR does not know which backend
it runs on, and what it stores there is what it stores in SQLite (test_journey.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from callcenter.app import CallCenter, serving
from callcenter.demo.script import Driver, event
from callcenter.demo.seed import DEMO_HISTORY, seed_history
from callcenter.store.models import CLIENT_TO_AGENT
from callcenter.store.postgres import PostgresStore
from tests.asterisk.conftest import AsteriskUnderTest
from tests.asterisk.ivr import offered, store_of
from tests.postgres import PostgresServer

pytestmark = [
    pytest.mark.asterisk,
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.usefixtures("scripted_agents"),
]


@pytest_asyncio.fixture(loop_scope="session")
async def pg_center(asterisk: AsteriskUnderTest, postgres: PostgresServer, tmp_path: Path) -> AsyncIterator[CallCenter]:
    """A fresh service whose store is a new, empty PostgreSQL place (it migrates it, as on any start)."""
    url = await postgres.new_place(migrated=False)
    config = dataclasses.replace(
        asterisk.config,
        store=dataclasses.replace(asterisk.config.store, url=url, journal=tmp_path / "pending.jsonl"),
        asterisk=dataclasses.replace(asterisk.config.asterisk, queue_log=asterisk.layout.queue_log),
    )
    async with serving(config, asterisk.agents) as running:
        await running.queues.wait_resynced(1, timeout=15)
        yield running
        assert await store_of(running).check_invariants() == []
    await postgres.release(url)


async def test_happy_path_on_postgresql(pg_center: CallCenter, driver: Driver) -> None:
    store = store_of(pg_center)
    assert isinstance(store, PostgresStore)
    await seed_history(store, DEMO_HISTORY)
    mark = driver.log.mark()
    caller = await driver.call("800", "5550191")
    await caller.answer("cc/choose-service", "1")
    menu = await caller.prompt("cc/first-available")
    # ranked from the ratings read back from PostgreSQL: best first
    assert offered(menu) == ["1001", "1003", "1002"]
    await caller.press("1")
    join = await driver.log.wait_for(event("QueueCallerJoin", Uniqueid=caller.uniqueid), since=mark)
    assert join.get("Queue") == "agent-1001"
    await driver.log.wait_for(event("AgentConnect", Queue="agent-1001"), since=mark)
    rating = await caller.answer("cc/please-rate", "4534", timeout=30)
    assert rating[:2] == ["cc/please-rate", "cc/agent-1001"]
    await caller.ended()
    call = await store.get_call(caller.uniqueid)
    assert call is not None
    assert (call.outcome, call.agent_id, call.queue, call.service_id) == ("answered", "1001", "agent-1001", "support")
    evaluation = await store.get_evaluation(caller.uniqueid, CLIENT_TO_AGENT)
    assert evaluation is not None
    assert dict(evaluation.scores) == {"attitude": 4, "knowledge": 5, "availability": 3, "other": 4}
    assert (await store.agent_summary("1001")).count == len(DEMO_HISTORY["1001"]) + 1
    assert await store.check_invariants() == []
