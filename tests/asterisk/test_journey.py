"""The caller's journey on a real Asterisk 22: what the caller heard, what Asterisk did, what was stored.

Agents are the scripted phones of dialplan/cc-demo.conf; each test sets their behaviour over AMI.
"""

from __future__ import annotations

import pytest

from callcenter.app import CallCenter
from callcenter.demo.run import demo_call
from callcenter.demo.script import Caller, Driver, event, is_read, read_files
from callcenter.demo.seed import DEMO_HISTORY, seed_history
from callcenter.domain.policy import caller_priority
from callcenter.domain.summaries import ratings
from callcenter.store.models import AGENT_TO_CLIENT, CLIENT_TO_AGENT
from tests.asterisk.conftest import AsteriskUnderTest
from tests.asterisk.ivr import AGENT_MENU, BUSY_LIST, DETAILS, agent_on_a_call, key_of, offer_of, offered, store_of

pytestmark = [
    pytest.mark.asterisk,
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.usefixtures("scripted_agents"),
]

AGENTS = ("1001", "1002", "1003")


def heard(driver: Driver, caller: Caller) -> list[list[str]]:
    return [read_files(str(e.get("Command"))) or [] for e in driver.log.matching(is_read(caller.uniqueid))]


async def to_agent_menu(caller: Caller) -> list[str]:
    await caller.answer("cc/choose-service", "1")
    return await caller.prompt(AGENT_MENU)


async def test_happy_path_hear_ratings_choose_wait_screen_talk_rate(
    center: CallCenter, driver: Driver, asterisk: AsteriskUnderTest
) -> None:
    store = store_of(center)
    await seed_history(store, DEMO_HISTORY)
    mark = driver.log.mark()
    caller = await driver.call("800", "5550101")
    menu = await to_agent_menu(caller)
    # first available first; then the best first, each with overall score, grade and wait (all free now); Dave's
    # softphone is not registered
    assert menu[:2] == ["cc/press-0", "cc/first-available"]
    assert offered(menu) == ["1001", "1003", "1002"]
    assert offer_of(menu, "1001") == ["cc/agent-1001", "cc/rated-4-3", "cc/grade-b", "cc/free-now"]
    assert key_of(menu, "1001") == "1"
    # every category and the count of ratings on request (#), then back with # again
    await caller.press("#")
    details = await caller.prompt(DETAILS)
    # fmt: off
    assert offer_of(details, "1001") == [
        "cc/agent-1001", "cc/rated-4-3", "cc/grade-b", "cc/from", "digits/5", "cc/ratings",
        "cc/cat-attitude", "cc/score-4-2", "cc/cat-knowledge", "cc/score-4-1",
        "cc/cat-availability", "cc/score-4-1", "cc/cat-other", "cc/score-4-1", "cc/free-now",
    ]
    # fmt: on
    assert details[details.index("cc/opt-rank") + 1] == "cc/cat-attitude"  # 8 ranks by the first category
    await caller.press("1")
    join = await driver.log.wait_for(event("QueueCallerJoin", Uniqueid=caller.uniqueid), since=mark)
    assert join.get("Queue") == "agent-1001"
    screen = await driver.log.wait_for(event("UserEvent", UserEvent="CallCenterScreen"), since=mark)
    assert (screen.get("Agent"), screen.get("Caller"), screen.get("New")) == ("1001", "5550101", "yes")
    connect = await driver.log.wait_for(event("AgentConnect", Queue="agent-1001"), since=mark)
    assert connect.get("MemberName") == "1001"
    # the agent hung up first: the caller, still on the line, is asked to rate them
    rating = await caller.answer("cc/please-rate", "4534", timeout=30)
    assert rating[:2] == ["cc/please-rate", "cc/agent-1001"]
    await caller.ended()
    called = driver.log.matching(event("AgentCalled"), since=mark)
    assert {(e.get("Queue"), e.get("Interface")) for e in called} == {("agent-1001", "Local/1001@cc-agent-offer/n")}
    assert ["cc/welcome"] in heard(driver, caller)
    assert heard(driver, caller)[-2] == [
        "cc/you-rated",
        "cc/cat-attitude",
        "digits/4",
        "cc/cat-knowledge",
        "digits/5",
        "cc/cat-availability",
        "digits/3",
        "cc/cat-other",
        "digits/4",
        "cc/thank-you",
    ]
    call = await store.get_call(caller.uniqueid)
    assert call is not None
    assert (call.outcome, call.agent_id, call.queue, call.service_id) == ("answered", "1001", "agent-1001", "support")
    assert call.hold_seconds is not None
    assert call.talk_seconds is not None
    evaluation = await store.get_evaluation(caller.uniqueid, CLIENT_TO_AGENT)
    assert evaluation is not None
    assert dict(evaluation.scores) == {"attitude": 4, "knowledge": 5, "availability": 3, "other": 4}
    assert (await store.agent_summary("1001")).count == len(DEMO_HISTORY["1001"]) + 1
    assert await store.check_invariants() == []


async def test_invalid_then_missing_input_reprompts_then_takes_the_defaults(center: CallCenter, driver: Driver) -> None:
    caller = await driver.call("800", "5550102")
    await caller.answer("cc/choose-service", "7")
    await caller.prompt("cc/invalid")
    await caller.prompt("cc/choose-service")  # silence
    # a short re-prompt, not the whole menu again; silence again: the first service is the default
    assert await caller.prompt("cc/or-hold-for") == ["cc/or-hold-for", "cc/service-support"]
    for _ in range(3):
        await caller.answer(AGENT_MENU, "6", timeout=40)  # no agent 6: three wrong keys
    join = await driver.log.wait_for(event("QueueCallerJoin", Uniqueid=caller.uniqueid), timeout=30)
    assert join.get("Queue") == "service-support"  # the default: first available agent
    await caller.hangup()
    await caller.ended()
    assert heard(driver, caller).count(["cc/invalid"]) == 3
    call = await store_of(center).get_call(caller.uniqueid)
    assert call is not None
    assert (call.service_id, call.queue, call.outcome) == ("support", "service-support", "abandoned")


async def test_agent_declines_and_the_caller_is_offered_another(center: CallCenter, driver: Driver) -> None:
    await driver.set_global("CC_DEMO_1001", "decline")
    mark = driver.log.mark()
    caller = await driver.call("800", "5550103")
    first = await to_agent_menu(caller)
    assert offered(first)[0] == "1001"
    await caller.press("1")
    no_answer = await driver.log.wait_for(event("AgentRingNoAnswer", Queue="agent-1001"), since=mark, timeout=30)
    assert no_answer.get("MemberName") == "1001"
    told = await caller.prompt("cc/declined", timeout=30)
    assert told == ["cc/agent-1001", "cc/declined"]
    again = await caller.prompt(AGENT_MENU)
    assert "1001" not in offered(again)
    await caller.press("1")
    chosen = offered(again)[0]
    await driver.log.wait_for(event("AgentConnect", Queue=f"agent-{chosen}"), since=mark, timeout=30)
    await caller.answer("cc/please-rate", "*", timeout=30)  # star skips the rating
    await caller.ended()
    store = store_of(center)
    call = await store.get_call(caller.uniqueid)
    assert call is not None
    assert (call.outcome, call.agent_id) == ("answered", chosen)
    assert await store.get_evaluation(caller.uniqueid, CLIENT_TO_AGENT) is None


async def test_agent_does_not_answer_then_caller_hangs_up(center: CallCenter, driver: Driver) -> None:
    await driver.set_global("CC_DEMO_1001", "noanswer")
    mark = driver.log.mark()
    caller = await driver.call("800", "5550104")
    await to_agent_menu(caller)
    await caller.press("1")
    await driver.log.wait_for(event("AgentRingNoAnswer", Queue="agent-1001"), since=mark, timeout=30)
    assert await caller.prompt("cc/not-answering", timeout=30) == ["cc/agent-1001", "cc/not-answering"]
    await caller.prompt(AGENT_MENU)
    await caller.hangup()
    await caller.ended()
    call = await store_of(center).get_call(caller.uniqueid)
    assert call is not None
    assert (call.outcome, call.agent_id) == ("no_answer", None)


async def test_caller_hanging_up_while_waiting_is_abandoned_with_the_priority_from_their_reputation(
    center: CallCenter, driver: Driver
) -> None:
    store = store_of(center)
    await seed_history(store, DEMO_HISTORY)  # agents rated caller 5551001 with 4s
    client = await store.client_for_number("5551001")
    assert client is not None
    expected = caller_priority(ratings(await store.client_summary(client.id)), center.config.policy)
    assert expected > center.config.policy.priority_neutral
    await driver.set_global("CC_DEMO_1001", "noanswer")
    mark = driver.log.mark()
    caller = await driver.call("800", "5551001")
    await caller.answer("cc/choose-service", "1")
    await caller.answer(AGENT_MENU, "1")
    await driver.log.wait_for(event("QueueCallerJoin", Uniqueid=caller.uniqueid), since=mark)
    entries = await driver.link.send_list({"Action": "QueueStatus", "Queue": "agent-1001"})
    entry = next(e for e in entries if e.get("Event") == "QueueEntry" and e.get("Uniqueid") == caller.uniqueid)
    assert int(entry.get("Priority")) == expected
    await caller.hangup()
    await driver.log.wait_for(event("QueueCallerAbandon", Uniqueid=caller.uniqueid), since=mark)
    await caller.ended()
    call = await store.get_call(caller.uniqueid)
    assert call is not None
    assert (call.outcome, call.queue, call.answered_at) == ("abandoned", "agent-1001", None)
    assert not [f for f in heard(driver, caller) if "cc/please-rate" in f]
    assert await store.get_evaluation(caller.uniqueid, CLIENT_TO_AGENT) is None
    assert await store.check_invariants() == []


async def test_caller_hangs_up_first_agent_rates_then_caller_is_reminded_on_the_next_call(
    center: CallCenter, driver: Driver
) -> None:
    store = store_of(center)
    await driver.set_global("CC_DEMO_1001", "stay")
    await driver.set_global("CC_DEMO_SCORE_1001", "2")
    mark = driver.log.mark()
    first = await driver.call("800", "5550106")
    await to_agent_menu(first)
    await first.press("1")
    await driver.log.wait_for(event("AgentConnect", Queue="agent-1001"), since=mark, timeout=30)
    await first.hangup()
    # the agent's leg continues (Queue option F) and is asked to rate the caller; the phone presses 2s
    asked = await driver.log.wait_for(
        lambda e: e.get("Event") == "AGIExecStart" and "cc/the-caller" in str(e.get("Command")), since=mark
    )
    assert str(asked.get("Channel")).startswith("Local/1001@cc-demo-agent") or "cc-agent-offer" in str(
        asked.get("Channel")
    )
    await driver.log.wait_for(event("UserEvent", UserEvent="CallCenterRated", Direction=AGENT_TO_CLIENT), since=mark)
    by_agent = await store.get_evaluation(first.uniqueid, AGENT_TO_CLIENT)
    assert by_agent is not None
    assert set(by_agent.scores.values()) == {2}
    assert await store.get_evaluation(first.uniqueid, CLIENT_TO_AGENT) is None
    # next call: the caller is asked about the call they left unrated
    second = await driver.call("800", "5550106")
    reminder = await second.answer("cc/unrated-call", "1")
    assert reminder[:2] == ["cc/unrated-call", "cc/agent-1001"]
    await second.answer("cc/please-rate", "5555")
    await second.prompt("cc/choose-service")
    await second.hangup()
    await second.ended()
    by_caller = await store.get_evaluation(first.uniqueid, CLIENT_TO_AGENT)
    assert by_caller is not None
    assert dict(by_caller.scores) == dict.fromkeys(("attitude", "knowledge", "availability", "other"), 5)
    assert await store.check_invariants() == []


async def test_anonymous_caller_is_served_but_not_remembered_nor_asked_to_rate(
    center: CallCenter, driver: Driver
) -> None:
    store = store_of(center)
    mark = driver.log.mark()
    caller = await driver.call("800", None)
    await to_agent_menu(caller)
    await caller.press("1")
    screen = await driver.log.wait_for(event("UserEvent", UserEvent="CallCenterScreen"), since=mark, timeout=30)
    assert screen.get("Caller") == "anonymous"
    await caller.ended()
    call = await store.get_call(caller.uniqueid)
    assert call is not None
    assert (call.outcome, call.client_id) == ("answered", None)
    assert not [f for f in heard(driver, caller) if "cc/please-rate" in f]
    assert await store.list_evaluations() == []


async def test_a_rating_in_one_call_changes_the_scores_and_ranking_the_next_caller_hears(
    center: CallCenter, driver: Driver
) -> None:
    store = store_of(center)
    history = {"1001": [(3, 3, 3, 3)] * 3, "1002": [(4, 4, 4, 4)] * 2 + [(4, 4, 4, 3)], "1003": [(4, 4, 4, 4)] * 3}
    await seed_history(store, history, tag="rank")
    first = await driver.call("800", "5550108")
    before = await to_agent_menu(first)
    assert offered(before) == ["1003", "1002", "1001"]
    assert offer_of(before, "1002")[1:3] == ["cc/rated-3-8", "cc/grade-c"]
    await first.press("2")  # Bob
    await first.answer("cc/please-rate", "5555", timeout=40)
    await first.ended()
    second = await driver.call("800", "5550109")
    after = await to_agent_menu(second)
    assert offered(after) == ["1002", "1003", "1001"]
    assert offer_of(after, "1002")[1:3] == ["cc/rated-4-1", "cc/grade-b"]
    # and the details count the new rating
    await second.press("#")
    details = await second.prompt(DETAILS)
    assert offer_of(details, "1002")[3:6] == ["cc/from", "digits/4", "cc/ratings"]
    await second.hangup()
    await second.ended()


async def test_a_service_with_no_available_agent_says_so_and_goodbye(center: CallCenter, driver: Driver) -> None:
    for agent in AGENTS:
        await driver.link.send(
            {
                "Action": "QueuePause",
                "Queue": f"agent-{agent}",
                "Interface": f"Local/{agent}@cc-agent-offer/n",
                "Paused": "true",
                "Reason": "test",
            }
        )
    await driver.log.wait_for(lambda e: e.get("Event") == "QueueMemberPause" and e.get("Queue") == "agent-1003")
    caller = await driver.call("800", "5550110")
    await caller.answer("cc/choose-service", "1")
    assert await caller.prompt("cc/no-agents") == ["cc/no-agents", "cc/goodbye"]
    await caller.ended()
    call = await store_of(center).get_call(caller.uniqueid)
    assert call is not None
    assert (call.outcome, call.queue) == ("failed", None)


async def test_the_demo_call_prints_the_whole_journey(center: CallCenter, asterisk: AsteriskUnderTest) -> None:
    lines: list[str] = []
    uniqueid = await demo_call(center.config, asterisk.agents, out=lines.append, number="5550111")
    text = "\n".join(lines)
    for expected in (
        "caller hears: \u201cWelcome to the call center.\u201d",
        "caller presses 1",
        "Asterisk: caller joins queue agent-",
        "agent 100",  # the agent's side: what they heard and pressed
        "Asterisk: agent 100",
        "stored: evaluation #",
        "outcome answered",
    ):
        assert expected in text, expected
    rated = await store_of(center).get_evaluation(uniqueid, CLIENT_TO_AGENT)
    assert rated is not None
    assert dict(rated.scores) == {"attitude": 5, "knowledge": 4, "availability": 5, "other": 4}


async def test_pressing_1_while_waiting_leaves_the_queue_to_choose_again(center: CallCenter, driver: Driver) -> None:
    await driver.set_global("CC_DEMO_1001", "noanswer")
    mark = driver.log.mark()
    caller = await driver.call("800", "5550112")
    await to_agent_menu(caller)
    await caller.press("1")
    await driver.log.wait_for(event("AgentCalled", Queue="agent-1001"), since=mark)
    await caller.press("1")  # Queue() listens for one key (queues.conf context = cc-queue-exit)
    left = await driver.log.wait_for(event("QueueCallerLeave", Uniqueid=caller.uniqueid), since=mark)
    assert left.get("Queue") == "agent-1001"
    again = await caller.prompt(AGENT_MENU)
    assert "1001" in offered(again)  # leaving by choice does not exclude the agent
    await caller.hangup()
    await caller.ended()
    call = await store_of(center).get_call(caller.uniqueid)
    assert call is not None
    assert (call.outcome, call.queue) == ("abandoned", "agent-1001")


async def test_a_caller_can_ask_for_a_busy_favourite_and_wait_for_them(center: CallCenter, driver: Driver) -> None:
    await agent_on_a_call(driver, "1001")
    try:
        mark = driver.log.mark()
        caller = await driver.call("800", "5550113")
        free = await to_agent_menu(caller)
        assert "1001" not in offered(free)
        assert "cc/opt-busy" in free  # "7 for busy agents"
        await caller.press("7")
        busy = await caller.prompt(BUSY_LIST)
        assert offered(busy) == ["1001"]
        # on a call we did not see start: a whole handle time (the configured 3 minutes, no stored talk times)
        assert offer_of(busy, "1001")[-2:] == ["cc/on-call", "cc/wait-3"]
        await caller.press("1")
        join = await driver.log.wait_for(event("QueueCallerJoin", Uniqueid=caller.uniqueid), since=mark)
        assert join.get("Queue") == "agent-1001"
        # Alice comes free: the waiting caller is put through to her (no one-ring-and-back for a favourite)
        await driver.set_global("DEVICE_STATE(Custom:agent-1001)", "NOT_INUSE")
        await driver.log.wait_for(event("AgentConnect", Queue="agent-1001"), since=mark, timeout=30)
        await caller.hangup()
        await caller.ended()
    finally:
        await driver.set_global("DEVICE_STATE(Custom:agent-1001)", "NOT_INUSE")


async def test_a_busy_favourite_who_declines_releases_the_waiting_caller(center: CallCenter, driver: Driver) -> None:
    await driver.set_global("CC_DEMO_1001", "decline")
    await agent_on_a_call(driver, "1001")
    try:
        mark = driver.log.mark()
        caller = await driver.call("800", "5550114")
        await to_agent_menu(caller)
        await caller.press("7")
        await caller.prompt(BUSY_LIST)
        await caller.press("1")
        await driver.log.wait_for(event("QueueCallerJoin", Uniqueid=caller.uniqueid), since=mark)
        await driver.set_global("DEVICE_STATE(Custom:agent-1001)", "NOT_INUSE")
        # Alice is rung, declines: the caller is withdrawn at once instead of being offered to her again
        await driver.log.wait_for(event("QueueCallerLeave", Uniqueid=caller.uniqueid), since=mark, timeout=30)
        assert await caller.prompt("cc/declined", timeout=30) == ["cc/agent-1001", "cc/declined"]
        again = await caller.prompt(AGENT_MENU)
        assert "1001" not in offered(again)
        rung = driver.log.matching(event("AgentCalled", Queue="agent-1001"), mark)
        assert len(rung) == 1
        await caller.hangup()
        await caller.ended()
        call = await store_of(center).get_call(caller.uniqueid)
        assert call is not None
        assert call.outcome == "declined"
    finally:
        await driver.set_global("DEVICE_STATE(Custom:agent-1001)", "NOT_INUSE")
