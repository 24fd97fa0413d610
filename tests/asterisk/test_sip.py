"""The caller's journey with a real SIP phone: SIPp dials the service number over the inbound PJSIP trunk and
presses its keys as RFC 2833 (RFC 4733) telephone-events in the RTP stream, as a carrier's caller would. The call
is known by Asterisk's own uniqueid (systemname-prefixed), from the IVR through the agent's legs to the store.

When to press is the delicate part: the IVR only hears a key while a ``Read()`` runs, and a "1" while waiting
in a queue means "leave the queue". Fixed pauses in the scenario would race the IVR. Instead the test is the
other end of SIPp's 3PCC twin socket (``-3pcc``): the scenario (``sipp/caller.xml``, rendered by
``sip_caller.py``) reports "answered", then waits at a ``<recvCmd>`` before each keypress; the test releases a
keypress only once AMI says the right ``Read()`` started on the caller's PJSIP channel (``AGIExecStart``), then
awaits the ``DTMFEnd`` Asterisk decoded from the RTP. SIPp's other external controls do not fit: its UDP control
port and keyboard steer the whole run (rate, pause, quit), not one call's next step, and ``-rtp_echo`` only
mirrors media.

The keypresses are RTP event pcaps written for each call, one per step, with RTP timestamps and sequence
numbers that go on from one to the next: SIPp replays a pcap as captured, and Asterisk takes an event with the
timestamp of the event it last ended for a retransmission of it, so two plays of SIPp's own
``dtmf_2833_1.pcap`` ("1" for the service, then "1" for the agent) would make the second press vanish.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.app import CallCenter
from callcenter.demo.script import Driver, event, is_read, read_files
from callcenter.demo.seed import DEMO_CALLERS, DEMO_HISTORY, seed_history
from callcenter.domain.summaries import summary_score
from callcenter.ivr import speech
from callcenter.store.models import AGENT_TO_CLIENT, CLIENT_TO_AGENT
from tests.asterisk.conftest import AsteriskUnderTest
from tests.asterisk.ivr import offered, store_of
from tests.asterisk.sip_caller import SipCaller, sip_caller
from tests.asterisk.sipp_support import tail

pytestmark = [
    pytest.mark.asterisk,
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.usefixtures("scripted_agents"),
]

CALLER = "5550201"
RATING = "5435"  # attitude, knowledge, availability, other
CATEGORIES = ("attitude", "knowledge", "availability", "other")


def heard(driver: Driver, caller: SipCaller, since: int = 0) -> list[list[str]]:
    return [read_files(str(e.get("Command"))) or [] for e in driver.log.matching(is_read(caller.uniqueid), since)]


def screened(driver: Driver, call: str, since: int) -> list[str]:
    """What the agent heard at the screening prompt of ``call``: the Read() on the agent's leg."""
    reads = [
        read_files(str(e.get("Command"))) or []
        for e in driver.log.matching(lambda e: e.get("Event") == "AGIExecStart", since)
    ]
    prompts = [r for r in reads if "cc/accept-decline" in r]
    assert prompts, f"no screening prompt for {call}"
    return prompts[0]


async def test_sip_caller_presses_rfc2833_keys_is_queued_to_the_best_agent_connected_and_rates(
    center: CallCenter, driver: Driver, asterisk: AsteriskUnderTest, tmp_path: Path
) -> None:
    store = store_of(center)
    await seed_history(store, DEMO_HISTORY)  # 1001 is the best rated, offered first (key 1)
    mark = driver.log.mark()
    async with sip_caller(asterisk, driver, tmp_path / "sipp", ["1", "1", RATING], from_user=CALLER) as caller:
        # Asterisk's own uniqueid, systemname first: what the store, the queue and the agent's legs all use
        assert caller.uniqueid.startswith(f"{asterisk.layout.name}-"), caller.uniqueid
        await caller.answer("cc/choose-service", "1")
        menu = await caller.prompt("cc/first-available")
        best = offered(menu)[0]
        assert best == "1001", menu
        await caller.press("1")
        join = await driver.log.wait_for(event("QueueCallerJoin", Uniqueid=caller.uniqueid), since=mark)
        assert (join.get("Queue"), join.get("Channel")) == (f"agent-{best}", caller.channel)
        # the agent's leg found the call by that uniqueid: a known caller with a number, new (no ratings yet)
        screen = await driver.log.wait_for(event("UserEvent", UserEvent="CallCenterScreen"), since=mark)
        assert (screen.get("Agent"), screen.get("Call"), screen.get("Caller"), screen.get("New")) == (
            best,
            caller.uniqueid,
            CALLER,
            "yes",
        )
        connect = await driver.log.wait_for(event("AgentConnect", Uniqueid=caller.uniqueid), since=mark, timeout=30)
        assert (connect.get("Queue"), connect.get("MemberName")) == (f"agent-{best}", best)
        # the agent talks a second and hangs up; the caller, still on the line, is asked to rate them
        asked = await caller.answer("cc/please-rate", RATING, timeout=30)
        assert asked[:2] == ["cc/please-rate", f"cc/agent-{best}"]
        await driver.log.wait_for(
            event("UserEvent", UserEvent="CallCenterRated", Call=caller.uniqueid, Direction=CLIENT_TO_AGENT),
            since=mark,
        )
        # the rating is read back; the caller does not wait for it and hangs up (SIPp sends BYE, gets 200 OK)
        await caller.hangup()
        ended = await driver.log.wait_for(
            event("UserEvent", UserEvent="CallCenterCallEnded", Call=caller.uniqueid), since=mark
        )
        assert ended.get("Outcome") == "answered"
        assert await caller.finished() == 0, tail(tmp_path / "sipp" / "errors.log")
    prompts = heard(driver, caller, mark)
    assert prompts[0] == ["cc/welcome"]
    call = await store.get_call(caller.uniqueid)
    assert call is not None
    assert (call.outcome, call.agent_id, call.queue, call.service_id) == ("answered", best, f"agent-{best}", "support")
    client = await store.get_client(call.client_id) if call.client_id else None
    assert client is not None
    assert client.number == CALLER
    evaluation = await store.get_evaluation(caller.uniqueid, CLIENT_TO_AGENT)
    assert evaluation is not None
    assert dict(evaluation.scores) == dict(zip(CATEGORIES, map(int, RATING), strict=True))


async def test_sip_caller_hangs_up_first_the_agent_heard_their_reputation_and_rates_them(
    center: CallCenter, driver: Driver, asterisk: AsteriskUnderTest, tmp_path: Path
) -> None:
    """A caller with a history (agents rated them 4 three times) is announced to the agent with that reputation,
    and when the caller hangs up first the agent rates them under the call's real uniqueid."""
    store = store_of(center)
    await seed_history(store, DEMO_HISTORY)
    number = DEMO_CALLERS[0]
    client = await store.client_for_number(number)
    assert client is not None
    before = await store.client_summary(client.id)
    assert before.count >= 3, before
    await driver.set_global("CC_DEMO_1001", "stay")
    await driver.set_global("CC_DEMO_SCORE_1001", "2")
    mark = driver.log.mark()
    async with sip_caller(asterisk, driver, tmp_path / "sipp", ["1", "1"], from_user=number) as caller:
        await caller.answer("cc/choose-service", "1")
        menu = await caller.prompt("cc/first-available")
        assert offered(menu)[0] == "1001"
        await caller.press("1")
        screen = await driver.log.wait_for(event("UserEvent", UserEvent="CallCenterScreen"), since=mark, timeout=30)
        assert (screen.get("Call"), screen.get("Caller"), screen.get("New")) == (caller.uniqueid, number, "no")
        assert screen.get("Ratings") == str(before.count)
        await driver.log.wait_for(event("AgentConnect", Uniqueid=caller.uniqueid), since=mark, timeout=30)
        await caller.hangup()
        assert await caller.finished() == 0, tail(tmp_path / "sipp" / "errors.log")
    # the agent heard "a caller rated 3 point 8 from 3 ratings", not "a new caller" nor "a withheld number"
    reputation = summary_score(before, CATEGORIES, center.config.policy)
    assert screened(driver, caller.uniqueid, mark)[:-1] == speech.reputation(reputation)
    assert speech.reputation(reputation)[0] == "cc/caller-rated"
    # the agent's leg continues (Queue option F) and rates the caller: stored under the SIP call's uniqueid
    await driver.log.wait_for(
        event("UserEvent", UserEvent="CallCenterRated", Call=caller.uniqueid, Direction=AGENT_TO_CLIENT), since=mark
    )
    by_agent = await store.get_evaluation(caller.uniqueid, AGENT_TO_CLIENT)
    assert by_agent is not None
    assert set(by_agent.scores.values()) == {2}
    assert (await store.client_summary(client.id)).count == before.count + 1
    call = await store.get_call(caller.uniqueid)
    assert call is not None
    assert (call.outcome, call.agent_id, call.client_id) == ("answered", "1001", client.id)


async def test_sip_caller_presses_9_and_changes_their_rating_of_a_past_call(
    center: CallCenter, driver: Driver, asterisk: AsteriskUnderTest, tmp_path: Path
) -> None:
    """Key 9 over SIP: no PIN yet (2: continue without), the agents who served this number, 1 to change the
    rating, the new scores, # back to the main menu."""
    store = store_of(center)
    await seed_history(store, {"1003": [(4, 4, 4, 4)]}, callers=[CALLER], tag="selfservice")
    call_id = "selfservice-1003-0"
    mark = driver.log.mark()
    keys = ["9", "2", "1", "2345", "#"]
    async with sip_caller(asterisk, driver, tmp_path / "sipp", keys, from_user=CALLER) as caller:
        await caller.answer("cc/choose-service", "9")
        await caller.answer("cc/offer-pin", "2")
        entry = await caller.answer("cc/call", "1")
        assert entry[entry.index("cc/with") + 1] == "cc/agent-1003", entry
        await caller.answer("cc/please-rate", "2345")
        entry = await caller.answer("cc/call", "#")
        assert entry[entry.index("cc/your-rating") :][:3] == ["cc/your-rating", "cc/cat-attitude", "digits/2"]
        await caller.prompt("cc/choose-service")
        await caller.hangup()
        assert await caller.finished() == 0, tail(tmp_path / "sipp" / "errors.log")
    evaluation = await store.get_evaluation(call_id, CLIENT_TO_AGENT)
    assert evaluation is not None
    assert dict(evaluation.scores) == dict(zip(CATEGORIES, (2, 3, 4, 5), strict=True))
    assert heard(driver, caller, mark)[0] == ["cc/welcome"]
