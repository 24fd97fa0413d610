"""Evaluation-driven routing on a real Asterisk 22: penalties and priorities that Asterisk acts on, kept live."""

from __future__ import annotations

import pytest

from callcenter.app import CallCenter
from callcenter.demo.script import Driver, event
from callcenter.demo.seed import seed_history
from callcenter.domain.policy import caller_priority, member_penalty, score
from callcenter.domain.summaries import ratings
from callcenter.store import Store
from callcenter.store.models import AGENT_TO_CLIENT, CLIENT_TO_AGENT
from callcenter.usecases.ports import utcnow
from tests.asterisk.conftest import AsteriskUnderTest
from tests.asterisk.ivr import restart_asterisk, store_of

pytestmark = [
    pytest.mark.asterisk,
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.usefixtures("scripted_agents"),
]

AGENTS = ("1001", "1002", "1003")
CATEGORIES = ("attitude", "knowledge", "availability", "other")
# 1001 excellent, 1003 good, 1002 poor: three different penalty tiers in the shared queue
HISTORY = {"1001": [(5, 5, 5, 5)] * 5, "1003": [(4, 4, 4, 4)] * 5, "1002": [(2, 2, 2, 2)] * 5}


async def answered_call(store: Store, uniqueid: str, client_id: int, agent_id: str) -> None:
    await store.start_call(uniqueid, uniqueid, client_id, "support", utcnow())
    await store.call_answered(uniqueid, agent_id, utcnow())


async def penalties_in(driver: Driver, queue: str) -> dict[str, int]:
    status = await driver.link.send_list({"Action": "QueueStatus", "Queue": queue})
    return {str(m.get("Name")): int(m.get("Penalty")) for m in status if m.get("Event") == "QueueMember"}


async def seeded(center: CallCenter) -> None:
    await seed_history(store_of(center), HISTORY, tag="routing")
    # seeding writes the store directly; the service pushes penalties on its next resync, as after a reconnect
    await center.queues.resync()


async def test_shared_queue_penalties_follow_ratings_and_the_best_agent_rings_first(
    center: CallCenter, driver: Driver
) -> None:
    await seeded(center)
    penalties = await penalties_in(driver, "service-support")
    assert penalties["1001"] < penalties["1003"] < penalties["1002"]
    await driver.set_global("CC_DEMO_1001", "noanswer")
    mark = driver.log.mark()
    caller = await driver.call("800", "5550201")
    await caller.answer("cc/choose-service", "1")
    await caller.answer("cc/first-available", "0")  # the shared queue
    await driver.log.wait_for(event("AgentConnect", Queue="service-support"), since=mark, timeout=40)
    rung = [e.get("MemberName") for e in driver.log.matching(event("AgentCalled", Queue="service-support"), mark)]
    # best (lowest penalty) first; it does not answer, so the next tier is tried; the poor agent never rings
    assert rung[:2] == ["1001", "1003"]
    assert "1002" not in rung
    await caller.hangup()
    await caller.ended()


async def test_of_two_waiting_callers_the_better_reputation_is_answered_first(
    center: CallCenter, driver: Driver
) -> None:
    store = store_of(center)
    await seed_history(store, {"1003": [(4, 4, 4, 4)] * 3}, callers=["5550202"], tag="prio")
    # agents rated caller 5550202 with 4s three times: a good reputation
    good = await store.client_for_number("5550202")
    assert good is not None
    good_prio = caller_priority(ratings(await store.client_summary(good.id)), center.config.policy)
    assert good_prio > center.config.policy.priority_neutral
    # nobody answers the shared queue for now
    for agent in AGENTS:
        await driver.link.send(
            {
                "Action": "QueuePause",
                "Queue": "service-support",
                "Interface": f"Local/{agent}@cc-agent-offer/n",
                "Paused": "true",
            }
        )
    mark = driver.log.mark()
    first = await driver.call("800", "5550299")  # unknown caller: neutral priority, joins first
    await first.answer("cc/choose-service", "1")
    await first.answer("cc/first-available", "0")
    await driver.log.wait_for(event("QueueCallerJoin", Uniqueid=first.uniqueid), since=mark, timeout=30)
    second = await driver.call("800", "5550202")
    await second.answer("cc/choose-service", "1")
    await second.answer("cc/first-available", "0")
    join = await driver.log.wait_for(event("QueueCallerJoin", Uniqueid=second.uniqueid), since=mark, timeout=30)
    status = await driver.link.send_list({"Action": "QueueStatus", "Queue": "service-support"})
    prio = {e.get("Uniqueid"): int(e.get("Priority")) for e in status if e.get("Event") == "QueueEntry"}
    assert prio == {first.uniqueid: center.config.policy.priority_neutral, second.uniqueid: good_prio}
    assert join.get("Position") == "1"  # the better caller went ahead of the one already waiting
    mark = driver.log.mark()
    await driver.link.send(
        {
            "Action": "QueuePause",
            "Queue": "service-support",
            "Interface": "Local/1003@cc-agent-offer/n",
            "Paused": "false",
        }
    )
    called = await driver.log.wait_for(event("AgentCalled", Queue="service-support"), since=mark, timeout=30)
    assert called.get("Uniqueid") == second.uniqueid
    for caller in (first, second):
        await caller.hangup()
        await caller.ended()


async def test_a_good_reputation_joins_the_agents_preferred_queue(center: CallCenter, driver: Driver) -> None:
    store = store_of(center)
    await seed_history(store, {"1003": [(5, 5, 5, 5)] * 4}, callers=["5550203"], tag="vip")
    client = await store.client_for_number("5550203")
    assert client is not None
    # the seed's agents rated this caller 4s; six 5s more make them a caller agents like to serve
    for n in range(6):
        await answered_call(store, f"vip-extra-{n}", client.id, "1003")
        await store.record_evaluation(
            f"vip-extra-{n}", AGENT_TO_CLIENT, dict.fromkeys(CATEGORIES, 5), "agent:1003", utcnow()
        )
    prio = caller_priority(ratings(await store.client_summary(client.id)), center.config.policy)
    assert prio >= center.config.policy.preferred_priority
    await driver.set_global("CC_DEMO_1001", "noanswer")
    mark = driver.log.mark()
    caller = await driver.call("800", "5550203")
    await caller.answer("cc/choose-service", "1")
    menu = await caller.prompt("cc/first-available")
    offered = [f.removeprefix("cc/agent-") for f in menu if f.startswith("cc/agent-")]
    await caller.press(str(offered.index("1001") + 1))
    join = await driver.log.wait_for(event("QueueCallerJoin", Uniqueid=caller.uniqueid), since=mark)
    assert join.get("Queue") == "agent-1001-vip"
    await caller.hangup()
    await caller.ended()


async def test_a_new_evaluation_changes_the_penalty_in_asterisk_without_a_restart(
    center: CallCenter, driver: Driver
) -> None:
    await seeded(center)
    store = store_of(center)
    before = (await penalties_in(driver, "service-support"))["1002"]
    mark = driver.log.mark()
    client = await store.client_for_number("5550204")
    assert client is not None
    for n in range(12):  # a run of excellent ratings lifts the poor agent
        await answered_call(store, f"lift-{n}", client.id, "1002")
        await store.record_evaluation(
            f"lift-{n}", CLIENT_TO_AGENT, dict.fromkeys(CATEGORIES, 5), "client:5550204", utcnow()
        )
    after = member_penalty(
        score(ratings(await store.agent_summary("1002")), CATEGORIES, center.config.policy), center.config.policy
    )
    assert after < before
    await center.queues.agent_rated("1002")  # what the rating flow calls after storing
    # the new penalty, whatever push of the seeding's (an older penalty) Asterisk still reports after the mark
    await driver.log.wait_for(
        event("QueueMemberPenalty", Queue="service-support", MemberName="1002", Penalty=str(after)), since=mark
    )
    assert (await penalties_in(driver, "service-support"))["1002"] == after


async def test_after_an_asterisk_restart_members_and_penalties_are_back(
    center: CallCenter, driver: Driver, asterisk: AsteriskUnderTest
) -> None:
    await seeded(center)
    want = await penalties_in(driver, "service-support")
    # the service reconnects with backoff, sees FullyBooted and re-adds every member with its penalty
    await restart_asterisk(asterisk, center, driver)
    assert await penalties_in(driver, "service-support") == want
    for agent in AGENTS:
        assert set(await penalties_in(driver, f"agent-{agent}")) == {agent}
