"""A real SIP softphone works as an agent: SIPp registers as agent1004 (roster agent 1004, Dave, ``sip = true``)
with digest auth, becomes available in Dave's queues, rings when a caller chooses Dave, answers, accepts the call
at the screening prompt with an RFC 2833 (RFC 4733) "1", is bridged with the caller and hangs up.

One SIPp process plays both parts of the phone: its main scenario (``sipp/agent-register.xml``) registers and
holds the registration, and every INVITE Asterisk sends to the registered contact, a new dialog SIPp knows
nothing of, runs its out-of-call scenario (``sipp/agent-phone.xml``, ``-oocsf``). As in test_sip.py, the test is
the other end of SIPp's 3PCC twin socket: each scenario reports its progress there and waits at a ``<recvCmd>``
until the test, having seen on AMI what it waits for, releases the next step. The "1" is released only once the
screening ``Read()`` runs on the phone's own channel (``PJSIP/agent1004-...``), since a key before that is lost.

The caller is a scripted one (``Driver.call``): only the agent's side is under test here.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from panoramisk.message import Message

from callcenter.app import CallCenter
from callcenter.demo.script import Caller, Driver, event, read_files
from tests.asterisk.conftest import AsteriskUnderTest
from tests.asterisk.ivr import key_of as spoken_key
from tests.asterisk.sipp_support import (
    TelephoneEvents,
    Twin,
    free_udp_port,
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

SCENARIOS = Path(__file__).parent / "sipp"
REGISTER, PHONE = "agent-register.xml", "agent-phone.xml"
SCRIPTED = ("1001", "1002", "1003")
DAVE = "1004"
ENDPOINT = f"agent{DAVE}"
MEMBER = f"Local/{DAVE}@cc-agent-offer/n"
CALLER = "5550301"
UNAVAILABLE, NOT_INUSE = "5", "1"  # app_queue member status (AST_DEVICE_*)


# --- helpers --------------------------------------------------------------------------------------------------------


def member_status(status: str) -> Callable[[Message], bool]:
    """Dave's member of his own queue (app_queue follows ``StateInterface: PJSIP/agent1004``) changed to ``status``."""
    return event("QueueMemberStatus", Queue=f"agent-{DAVE}", MemberName=DAVE, Interface=MEMBER, Status=status)


async def own_queue_status(driver: Driver) -> str:
    entries = await driver.link.send_list({"Action": "QueueStatus", "Queue": f"agent-{DAVE}"})
    members = [e for e in entries if e.get("Event") == "QueueMember" and e.get("Name") == DAVE]
    assert len(members) == 1, members
    return str(members[0].get("Status"))


async def until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """The service reads the same AMI events on its own connection, with no event of its own to await: give it
    ``timeout`` seconds to catch up (it usually has by the time the test's connection saw the event)."""
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"{what} within {timeout} s") from None


async def key_of(caller: Caller, agent: str, pages: int = 3) -> str:
    """Dave's key in the agent menu: offered agents come in order, key = position + 1 on the page; "9" pages on."""
    for _ in range(pages):
        menu = await caller.prompt("cc/first-available")
        offered = [f.removeprefix("cc/agent-") for f in menu if f.startswith("cc/agent-")]
        if agent in offered:
            key = str(offered.index(agent) + 1)
            assert spoken_key(menu, agent) == key, menu  # "press <key> for Dave" / "<key> for Dave"
            return key
        assert "cc/opt-more" in menu, f"agent {agent} not offered: {offered}"
        await caller.press("9")
    raise AssertionError(f"agent {agent} not offered in {pages} pages")


def screening_read(e: Message) -> bool:
    """The screening Read() (accept or decline) started on the softphone's own channel."""
    return (
        e.get("Event") == "AGIExecStart"
        and str(e.get("Channel")).startswith(f"PJSIP/{ENDPOINT}-")
        and "cc/accept-decline" in (read_files(str(e.get("Command", ""))) or [])
    )


# --- the test -------------------------------------------------------------------------------------------------------


async def test_sip_softphone_registers_rings_screens_with_rfc2833_and_is_connected_as_agent_1004(
    center: CallCenter, driver: Driver, asterisk: AsteriskUnderTest, tmp_path: Path
) -> None:
    store = center.store
    assert store is not None
    secret = (asterisk.config.state_dir / "secrets" / f"sip-{ENDPOINT}.secret").read_text().strip()
    assert await own_queue_status(driver) == UNAVAILABLE  # nobody registered as agent1004 yet

    work = tmp_path / "sipp"
    work.mkdir()
    for name in (REGISTER, PHONE):
        shutil.copy(SCENARIOS / name, work / name)
    write_pcap(work / "key-accept.pcap", TelephoneEvents().press("1"))

    twin = Twin()
    twin_port = await twin.start()
    a = asterisk.config.asterisk
    sip_port = free_udp_port()
    mark = driver.log.mark()
    sipp = await start_sipp(
        f"{a.sip_host}:{a.sip_port}",
        work,
        [
            *("-sf", str(work / REGISTER)),
            # an INVITE to the registered contact is a dialog the main scenario does not know: it runs this one
            # (so -aa would never apply; nothing else comes out of dialog from Asterisk: the aor has no qualify)
            *("-oocsf", str(work / PHONE)),
            # [service]: the contact's user; -au/-ap answer the 401's digest challenge
            *("-s", ENDPOINT, "-au", ENDPOINT, "-ap", secret),
        ],
        twin_port=twin_port,
        sip_port=sip_port,
    )
    registration: str | None = None
    try:
        # 1. registered (401, then digest auth): Dave's queue member turns from UNAVAILABLE to NOT_INUSE
        registered = await twin.receive(sipp)
        assert registered.get("Step") == "registered"
        registration = registered["Call-ID"]
        await driver.log.wait_for(member_status(NOT_INUSE), since=mark)
        contact = await driver.log.wait_for(event("ContactStatus", AOR=ENDPOINT), since=mark)
        assert contact.get("URI") == f"sip:{ENDPOINT}@127.0.0.1:{sip_port};transport=UDP"
        assert contact.get("ContactStatus") in {"Created", "NonQualified", "Reachable"}
        await until(lambda: center.queues.presence.offerable(DAVE), 5, "the service did not see Dave available")

        # 2. a caller chooses Dave
        caller = await driver.call(a.service_number, CALLER)
        await caller.answer("cc/choose-service", "1")
        await caller.press(await key_of(caller, DAVE))
        join = await driver.log.wait_for(event("QueueCallerJoin", Uniqueid=caller.uniqueid), since=mark)
        assert join.get("Queue") == f"agent-{DAVE}"

        # 3. the phone rings (Local member -> Dial(PJSIP/agent1004)) and answers; the screening runs on its channel
        answered = await twin.receive(sipp)
        assert answered.get("Step") == "answered"
        call_id = answered["Call-ID"]
        screen = await driver.log.wait_for(screening_read, since=mark)
        channel = str(screen.get("Channel"))
        sip_call_id = await driver.link.send(
            {"Action": "Getvar", "Channel": channel, "Variable": "CHANNEL(pjsip,call-id)"}
        )
        assert sip_call_id.get("Value") == call_id
        pop = await driver.log.wait_for(event("UserEvent", UserEvent="CallCenterScreen", Agent=DAVE), since=mark)
        assert pop.get("Caller") == CALLER
        pressed = driver.log.mark()
        await twin.release(call_id, "accept")
        await driver.log.wait_for(event("DTMFEnd", Channel=channel, Direction="Received", Digit="1"), since=pressed)

        # 4. bridged with the caller as agent 1004; the agent hangs up, the caller is asked to rate Dave, hangs up
        connect = await driver.log.wait_for(event("AgentConnect", Uniqueid=caller.uniqueid), since=mark, timeout=20)
        assert (connect.get("Queue"), connect.get("MemberName"), connect.get("Interface")) == (
            f"agent-{DAVE}",
            DAVE,
            MEMBER,
        )
        called = driver.log.matching(event("AgentCalled", Uniqueid=caller.uniqueid), since=mark)
        assert {e.get("Interface") for e in called} == {MEMBER}
        await twin.release(call_id, "hangup")
        await driver.log.wait_for(event("Hangup", Channel=channel), since=mark)
        asked = await caller.prompt("cc/please-rate", timeout=20)
        assert asked[:2] == ["cc/please-rate", f"cc/agent-{DAVE}"]
        await caller.hangup()
        await caller.ended()
        ended = await driver.log.wait_for(
            event("UserEvent", UserEvent="CallCenterCallEnded", Call=caller.uniqueid), since=mark
        )
        assert ended.get("Outcome") == "answered"

        # the phone unregisters: Dave is unavailable again
        gone = driver.log.mark()
        await twin.release(registration, "unregister")
        registration = None
        await driver.log.wait_for(event("ContactStatus", AOR=ENDPOINT, ContactStatus="Removed"), since=gone)
        await driver.log.wait_for(member_status(UNAVAILABLE), since=gone)
        returncode = await asyncio.wait_for(sipp.wait(), 15)
    finally:
        if sipp.returncode is None and registration is not None:
            # a failure mid-way: let the phone unregister if it still can, so Dave is not left offered
            with contextlib.suppress(Exception):
                await twin.release(registration, "unregister")
                await asyncio.wait_for(sipp.wait(), 5)
        await stop_sipp(sipp, twin, work)

    assert returncode == 0, tail(work / "errors.log")
    call = await store.get_call(caller.uniqueid)
    assert call is not None
    assert (call.outcome, call.agent_id, call.queue, call.service_id) == ("answered", DAVE, f"agent-{DAVE}", "support")
    assert call.talk_seconds is not None
    assert await store.check_invariants() == []


def menu_read(prompt: str) -> Callable[[Message], bool]:
    """A Read() of the agent menu playing ``prompt`` started on the softphone's own channel."""

    def match(e: Message) -> bool:
        return (
            e.get("Event") == "AGIExecStart"
            and str(e.get("Channel")).startswith(f"PJSIP/{ENDPOINT}-")
            and prompt in (read_files(str(e.get("Command", ""))) or [])
        )

    return match


async def test_sip_softphone_dials_the_feature_code_and_pauses_without_a_pin(
    center: CallCenter, driver: Driver, asterisk: AsteriskUnderTest, tmp_path: Path
) -> None:
    """No registration needed to dial out: the INVITE itself is authenticated (digest), and the endpoint names
    the agent, so the menu opens without agent number or PIN."""
    store = center.store
    assert store is not None
    secret = (asterisk.config.state_dir / "secrets" / f"sip-{ENDPOINT}.secret").read_text().strip()
    work = tmp_path / "sipp"
    work.mkdir()
    shutil.copy(SCENARIOS / "agent-menu.xml", work / "agent-menu.xml")
    rtp = TelephoneEvents()
    write_pcap(work / "key-pause.pcap", rtp.press("2"))
    write_pcap(work / "key-reason.pcap", rtp.press("1"))
    write_pcap(work / "key-finish.pcap", rtp.press("#"))
    twin = Twin()
    twin_port = await twin.start()
    a = asterisk.config.asterisk
    mark = driver.log.mark()
    sipp = await start_sipp(
        f"{a.sip_host}:{a.sip_port}",
        work,
        [
            *("-sf", str(work / "agent-menu.xml")),
            # [service] is the number dialled; -au/-ap answer the 401's digest challenge
            *("-s", center.config.agents.feature_code, "-au", ENDPOINT, "-ap", secret),
        ],
        twin_port=twin_port,
    )
    try:
        answered = await twin.receive(sipp)
        assert answered.get("Step") == "answered"
        call_id = answered["Call-ID"]
        menu = await driver.log.wait_for(menu_read("cc/agent-available"), since=mark)
        # straight to the menu: no agent number, no PIN asked
        assert not driver.log.matching(menu_read("cc/enter-agent-id"), since=mark)
        channel = str(menu.get("Channel"))
        await twin.release(call_id, "pause")
        await driver.log.wait_for(event("DTMFEnd", Channel=channel, Direction="Received", Digit="2"), since=mark)
        await driver.log.wait_for(menu_read("cc/choose-pause-reason"), since=mark)
        await twin.release(call_id, "reason")
        paused = await driver.log.wait_for(
            event("QueueMemberPause", Queue="service-support", MemberName=DAVE, Paused="1"), since=mark
        )
        assert paused.get("PausedReason") == "break"
        await driver.log.wait_for(menu_read("cc/agent-paused"), since=mark)
        await twin.release(call_id, "finish")
        await driver.log.wait_for(menu_read("cc/agent-goodbye"), since=mark)
        returncode = await asyncio.wait_for(sipp.wait(), 20)
    finally:
        await stop_sipp(sipp, twin, work)
    assert returncode == 0, tail(work / "errors.log")
    stored = (await store.get_presence([DAVE]))[DAVE]
    assert (stored.state, stored.reason, stored.actor) == ("paused", "break", f"agent:{DAVE}")
