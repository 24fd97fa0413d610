"""The caller's journey with a real SIP phone: SIPp dials the service number over the inbound PJSIP trunk and
presses its keys as RFC 2833 (RFC 4733) telephone-events in the RTP stream, as a carrier's caller would.

When to press is the delicate part: the IVR only hears a key while a ``Read()`` runs, and a "1" while waiting
in a queue means "leave the queue". Fixed pauses in the scenario would race the IVR. Instead the test is the
other end of SIPp's 3PCC twin socket (``-3pcc``): the scenario (``sipp/caller.xml``) reports "answered", then
waits at a ``<recvCmd>`` before each keypress; the test releases a keypress only once AMI says the right
``Read()`` started on the caller's PJSIP channel (``AGIExecStart``), then awaits the ``DTMFEnd`` Asterisk
decoded from the RTP. SIPp's other external controls do not fit: its UDP control port and keyboard steer the
whole run (rate, pause, quit), not one call's next step, and ``-rtp_echo`` only mirrors media.

The keypresses are RTP event pcaps written by this test, one per step, with RTP timestamps and sequence
numbers that go on from one to the next: SIPp replays a pcap as captured, and Asterisk takes an event with the
timestamp of the event it last ended for a retransmission of it, so two plays of SIPp's own
``dtmf_2833_1.pcap`` ("1" for the service, then "1" for the agent) would make the second press vanish.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from panoramisk.message import Message

from callcenter.app import CallCenter
from callcenter.demo.script import Driver, event, is_read, read_files
from callcenter.demo.seed import DEMO_HISTORY, seed_history
from callcenter.store.models import CLIENT_TO_AGENT
from tests.asterisk.conftest import AsteriskUnderTest
from tests.asterisk.sipp_support import (
    TelephoneEvents,
    Twin,
    start_sipp,
    stop_sipp,
    tail,
    write_pcap,
)

pytestmark = [
    pytest.mark.asterisk,
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.usefixtures("scripted_agents"),
]

SCENARIO = Path(__file__).parent / "sipp" / "caller.xml"
AGENTS = ("1001", "1002", "1003")
CALLER = "5550201"
RATING = "5435"  # attitude, knowledge, availability, other


# --- the test -----------------------------------------------------------------------------------------------------


def files(read: Message) -> list[str]:
    """The sound files a Read()'s AGIExecStart plays."""
    return read_files(str(read.get("Command"))) or []


def heard(driver: Driver, uniqueid: str, since: int) -> list[list[str]]:
    return [files(e) for e in driver.log.matching(is_read(uniqueid), since=since)]


async def started_read(driver: Driver, uniqueid: str, playing: str, since: int, timeout: float = 20.0) -> Message:
    """The AGIExecStart of a Read() on the caller's channel whose prompt plays ``playing``."""

    def wanted(e: Message) -> bool:
        return is_read(uniqueid)(e) and playing in files(e)

    return await driver.log.wait_for(wanted, timeout=timeout, since=since)


async def keys_received(driver: Driver, channel: str, keys: str, since: int, timeout: float = 10.0) -> None:
    """Await Asterisk's DTMFEnd (received from the caller) for each of ``keys``, in order."""
    for key in keys:
        end = await driver.log.wait_for(
            event("DTMFEnd", Channel=channel, Direction="Received", Digit=key), timeout=timeout, since=since
        )
        since = driver.log.events.index(end) + 1


async def test_sip_caller_presses_rfc2833_keys_is_queued_to_the_best_agent_connected_and_rates(
    center: CallCenter, driver: Driver, asterisk: AsteriskUnderTest, tmp_path: Path
) -> None:
    store = center.store
    assert store is not None
    await seed_history(store, DEMO_HISTORY)  # 1001 is the best rated, offered first (key 1)

    work = tmp_path / "sipp"
    work.mkdir()
    shutil.copy(SCENARIO, work / SCENARIO.name)
    rtp = TelephoneEvents()
    write_pcap(work / "key-service.pcap", rtp.press("1"))
    write_pcap(work / "key-agent.pcap", rtp.press("1"))
    write_pcap(work / "keys-rating.pcap", rtp.press(RATING))

    twin = Twin()
    twin_port = await twin.start()
    a = asterisk.config.asterisk
    mark = driver.log.mark()
    sipp = await start_sipp(
        f"{a.sip_host}:{a.sip_port}",
        work,
        [
            *("-sf", str(work / SCENARIO.name), "-s", a.service_number, "-key", "caller", CALLER),
            # answer an INFO, NOTIFY, OPTIONS or UPDATE from Asterisk like a phone would, not fail the call on it
            "-aa",
        ],
        twin_port=twin_port,
    )
    try:
        answered = await twin.receive(sipp)
        assert answered.get("Step") == "answered"
        call_id = answered["Call-ID"]

        # the call came in over the trunk, from our number: its channel is the IVR's
        new = await driver.log.wait_for(
            lambda e: (
                e.get("Event") == "Newchannel"
                and str(e.get("Channel")).startswith("PJSIP/trunk-")
                and e.get("CallerIDNum") == CALLER
            ),
            since=mark,
        )
        channel, uniqueid = str(new.get("Channel")), str(new.get("Uniqueid"))
        sip_call_id = await driver.link.send(
            {"Action": "Getvar", "Channel": channel, "Variable": "CHANNEL(pjsip,call-id)"}
        )
        assert sip_call_id.get("Value") == call_id

        await started_read(driver, uniqueid, "cc/choose-service", mark)
        pressed = driver.log.mark()
        await twin.release(call_id, "service")
        await keys_received(driver, channel, "1", pressed)

        menu = await started_read(driver, uniqueid, "cc/first-available", mark)
        offered = [f.removeprefix("cc/agent-") for f in files(menu) if f.startswith("cc/agent-")]
        assert offered[0] == "1001", offered
        best = offered[0]
        pressed = driver.log.mark()
        await twin.release(call_id, "agent")
        await keys_received(driver, channel, "1", pressed)

        join = await driver.log.wait_for(event("QueueCallerJoin", Uniqueid=uniqueid), since=mark)
        assert (join.get("Queue"), join.get("Channel")) == (f"agent-{best}", channel)
        connect = await driver.log.wait_for(event("AgentConnect", Uniqueid=uniqueid), since=mark, timeout=30)
        assert (connect.get("Queue"), connect.get("MemberName")) == (f"agent-{best}", best)

        # the agent talks a second and hangs up; the caller, still on the line, is asked to rate them
        asked = await started_read(driver, uniqueid, "cc/please-rate", mark, timeout=30)
        assert files(asked)[:2] == ["cc/please-rate", f"cc/agent-{best}"]
        pressed = driver.log.mark()
        await twin.release(call_id, "rating")
        await keys_received(driver, channel, RATING, pressed)
        await driver.log.wait_for(
            event("UserEvent", UserEvent="CallCenterRated", Call=uniqueid, Direction=CLIENT_TO_AGENT), since=pressed
        )

        # the rating is read back; the caller does not wait for it and hangs up (SIPp sends BYE, gets 200 OK)
        await twin.release(call_id, "hangup")
        await driver.log.wait_for(event("Hangup", Uniqueid=uniqueid), since=mark)
        # the caller's hangup handler closed the call row
        ended = await driver.log.wait_for(
            event("UserEvent", UserEvent="CallCenterCallEnded", Call=uniqueid), since=mark
        )
        assert ended.get("Outcome") == "answered"
        returncode = await asyncio.wait_for(sipp.wait(), 15)
    finally:
        await stop_sipp(sipp, twin, work)

    assert returncode == 0, tail(work / "errors.log")
    prompts = heard(driver, uniqueid, mark)
    assert prompts[0] == ["cc/welcome"]
    assert any("cc/choose-service" in p for p in prompts)
    assert any("cc/first-available" in p for p in prompts)
    call = await store.get_call(uniqueid)
    assert call is not None
    assert (call.outcome, call.agent_id, call.queue, call.service_id) == ("answered", best, f"agent-{best}", "support")
    assert call.hold_seconds is not None
    assert call.talk_seconds is not None
    evaluation = await store.get_evaluation(uniqueid, CLIENT_TO_AGENT)
    assert evaluation is not None
    assert dict(evaluation.scores) == dict(
        zip(("attitude", "knowledge", "availability", "other"), map(int, RATING), strict=True)
    )
    assert await store.check_invariants() == []
