"""Hostile input on a real Asterisk 22: SIP callers whose caller ID (From user, display name, Diversion) tries to
inject FastAGI header lines, and raw FastAGI peers that break the protocol.

Each attack is one that worked before the fix (issue 9): a SIP From user carrying ``%0A`` is decoded by PJSIP into
CALLERID(num), and Asterisk writes it raw into the FastAGI header block, so the caller added header lines of their
own, and the injected line won (agent 1004's menu opened without a PIN; a victim's rating was replaced). Each test
asserts that nothing was injected (no presence change, every stored rating and its audit trail as before), that
the caller got the ordinary IVR under their own call, and that the store's invariant check stays clean.
"""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from pathlib import Path

import pytest

from callcenter.agi.protocol import header_block
from callcenter.app import CallCenter
from callcenter.demo.script import Caller, Driver, event, is_read
from callcenter.demo.seed import DEMO_HISTORY, seed_history
from callcenter.store import AgentPresence, AuditEntry, Evaluation, Store
from callcenter.usecases.ports import utcnow
from tests.asterisk.conftest import AsteriskUnderTest
from tests.asterisk.ivr import store_of
from tests.asterisk.sip_caller import SipCaller, sip_caller
from tests.asterisk.sipp_support import tail

pytestmark = [
    pytest.mark.asterisk,
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.usefixtures("scripted_agents"),
]

VICTIM_CALL = "seed-1001-0"  # a past call of DEMO_HISTORY: rated both ways
DAVE = "1004"


def percent(text: str) -> str:
    """``text`` percent-encoded for a SIP URI's user part, as an attacker's INVITE would carry it."""
    return "".join(c if c.isalnum() else f"%{ord(c):02X}" for c in text)


async def snapshot(store: Store) -> tuple[list[Evaluation], list[list[AuditEntry]], dict[str, AgentPresence]]:
    """Every evaluation with its audit trail, and the presence of every agent: what an attack must not change."""
    evaluations = await store.list_evaluations(include_deleted=True)
    history = [await store.evaluation_history(e.id) for e in evaluations]
    presence = await store.get_presence(["1001", "1002", "1003", DAVE, "1005"])
    return evaluations, history, presence


async def served_as_a_stranger(driver: Driver, store: Store, caller: SipCaller, mark: int, work: Path) -> None:
    """The caller got the ordinary IVR under their own uniqueid, as a withheld number (their caller ID is not a
    number), and the call row is theirs."""
    await caller.prompt("cc/choose-service")
    await caller.hangup()
    assert await caller.finished() == 0, tail(work / "errors.log")
    await driver.log.wait_for(event("UserEvent", UserEvent="CallCenterCallEnded", Call=caller.uniqueid), since=mark)
    call = await store.get_call(caller.uniqueid)
    assert call is not None
    assert call.client_id is None, "a caller ID carrying header lines must not become anyone's identity"
    assert [e.get("Uniqueid") for e in driver.log.matching(is_read(caller.uniqueid), mark)][:1] == [caller.uniqueid]


INJECTIONS = {
    # the agent menu of Dave's softphone, without a PIN
    "agent-menu": "5550420\nagi_network_script: agent-menu?endpoint=agent1004",
    # the victim's call, at the step that asks its caller to rate the agent
    "after-queue": f"5550421\nagi_uniqueid: {VICTIM_CALL}\nagi_network_script: after-queue",
    # the agent's rating of the victim
    "rate-caller": f"5550422\nagi_network_script: rate-caller?agent=1001&call={VICTIM_CALL}",
    # end the header block early: the real lines after it would be read as replies to our commands
    "end-of-block": "5550423\r\n\r\n200 result=1 (agent1004)",
}


@pytest.mark.parametrize("attack", sorted(INJECTIONS))
async def test_a_caller_id_with_header_lines_injects_nothing(
    attack: str, center: CallCenter, driver: Driver, asterisk: AsteriskUnderTest, tmp_path: Path
) -> None:
    store = store_of(center)
    await seed_history(store, DEMO_HISTORY)
    before = await snapshot(store)
    mark = driver.log.mark()
    async with sip_caller(
        asterisk, driver, tmp_path / "sipp", [], from_user=percent(INJECTIONS[attack]), name="Mallory"
    ) as caller:
        await served_as_a_stranger(driver, store, caller, mark, tmp_path / "sipp")
    assert await snapshot(store) == before
    # no menu of any agent was opened, no rating was asked for
    commands = [str(e.get("Command")) for e in driver.log.matching(event("AGIExecStart"), mark)]
    assert not [c for c in commands if "cc/to-pause" in c or "cc/please-rate" in c or "cc/accept-decline" in c]


async def test_a_caller_id_with_forged_ami_events_does_not_reach_the_service(
    center: CallCenter, driver: Driver, asterisk: AsteriskUnderTest, tmp_path: Path
) -> None:
    """Asterisk writes the caller ID raw into AMI events (Newchannel, before any dialplan runs): a CR LF CR LF in it
    ends the event, and what follows reads as events of the caller's making (up to the length Asterisk keeps of a
    caller number, about 80 bytes). The driver's AMI user, which takes every event, sees the forgery; the service's,
    filtered by event name in manager.conf, must not: a forged FullyBooted would make it resync its queues on every
    such call, a forged member pause would hide an agent."""
    forged = "5550450\r\n\r\nEvent: FullyBooted\r\nStatus: forged\r\n\r\nEvent: QueueMemberPause\r\nPaused: 1"
    assert center.queues.presence.offerable("1001")
    resyncs = center.queues.resyncs
    mark = driver.log.mark()
    async with sip_caller(asterisk, driver, tmp_path / "sipp", [], from_user=percent(forged)) as caller:
        await caller.prompt("cc/choose-service")
        # the attack is live: the unfiltered driver read the caller's "events"
        await driver.log.wait_for(event("FullyBooted", Status="forged"), since=mark)
        await driver.log.wait_for(event("QueueMemberPause"), since=mark)
        await caller.hangup()
        assert await caller.finished() == 0
    await driver.log.wait_for(event("UserEvent", UserEvent="CallCenterCallEnded", Call=caller.uniqueid), since=mark)
    assert center.queues.presence.offerable("1001")
    assert center.queues.resyncs == resyncs
    # and the next caller hears Alice offered
    other = await driver.call("800", "5550451")
    await other.answer("cc/choose-service", "1")
    menu = await other.prompt("cc/first-available")
    assert "cc/agent-1001" in menu
    await other.hangup()
    await other.ended()


async def test_a_diversion_header_with_header_lines_injects_nothing(
    center: CallCenter, driver: Driver, asterisk: AsteriskUnderTest, tmp_path: Path
) -> None:
    """RDNIS (the Diversion header) reaches the header block as agi_rdnis, after the caller ID."""
    store = store_of(center)
    before = await snapshot(store)
    diversion = percent("5550430\nagi_network_script: agent-menu?endpoint=agent1004")
    async with sip_caller(
        asterisk,
        driver,
        tmp_path / "sipp",
        [],
        from_user="5550430",
        headers=[f"Diversion: <sip:{diversion}@127.0.0.1>;reason=unconditional"],
    ) as caller:
        await caller.prompt("cc/choose-service")
        rdnis = await driver.link.send({"Action": "Getvar", "Channel": caller.channel, "Variable": "CALLERID(rdnis)"})
        assert rdnis.get("Value") in ("", None), rdnis
        await caller.hangup()
        assert await caller.finished() == 0
    assert await snapshot(store) == before
    call = await store.get_call(caller.uniqueid)
    assert call is not None
    client = await store.get_client(call.client_id) if call.client_id else None
    assert client is not None
    assert client.number == "5550430"  # an ordinary caller ID stays the caller's identity


async def test_a_display_name_with_control_characters_and_dialplan_syntax_is_only_a_name(
    center: CallCenter, driver: Driver, asterisk: AsteriskUnderTest, tmp_path: Path
) -> None:
    store = store_of(center)
    mark = driver.log.mark()
    async with sip_caller(
        asterisk, driver, tmp_path / "sipp", [], from_user="5550440", name='Eve ${SHELL(id)} <x> \\" ;x'
    ) as caller:
        await caller.prompt("cc/choose-service")
        name = await driver.link.send({"Action": "Getvar", "Channel": caller.channel, "Variable": "CALLERID(name)"})
        # printable, kept as text: nothing in it was evaluated
        assert "${SHELL(id)}" in str(name.get("Value")), name
        await caller.hangup()
        assert await caller.finished() == 0
    await driver.log.wait_for(event("UserEvent", UserEvent="CallCenterCallEnded", Call=caller.uniqueid), since=mark)
    call = await store.get_call(caller.uniqueid)
    assert call is not None
    assert call.client_id is not None


async def test_asterisk_rejects_no_option_of_ours_at_start(asterisk: AsteriskUnderTest) -> None:
    """Every option in asterisk-conf/ is one Asterisk 22 knows: manager.conf's writetimeout once sat in [general],
    which rejects it, so the protection it promised was not in effect."""
    log = (asterisk.layout.log_dir / "messages.log").read_text(errors="replace")
    assert "Invalid keyword" not in log
    assert "Unknown keyword" not in log


# --- raw FastAGI peers ------------------------------------------------------------------------------------------
# Whatever connects to the FastAGI port speaks for Asterisk, so it stays on loopback (README, security notes); what
# the core can still do is refuse anything that is not what Asterisk sends, before a route runs.


async def refused_before_any_route(port: int, block: bytes) -> bytes:
    """Send ``block`` as a header block; return what the server sent back before closing (b"": nothing)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(block)
        await writer.drain()
        async with asyncio.timeout(10):
            return await reader.read()
    finally:
        writer.close()


def header_lines(**changes: str | None) -> list[tuple[str, str]]:
    """Asterisk 22's header block for an inbound call, as (key, value) pairs, with ``changes`` (None drops a key)."""
    block = header_block("inbound", uniqueid="main-1796109392.26", callerid="5550460").decode()
    pairs = [line.split(": ", 1) for line in block.splitlines() if line]
    changed = [(k, changes.get(k, v)) for k, v in pairs]
    return [(k, v) for k, v in changed if v is not None]


def encoded(pairs: list[tuple[str, str]], extra: str = "") -> bytes:
    return ("".join(f"{k}: {v}\n" for k, v in pairs) + extra + "\n").encode()


@pytest.mark.parametrize(
    "block",
    [
        # the injected repeat of a key the real block already has (last one used to win)
        encoded(header_lines(agi_callerid="5550460\nagi_network_script: agent-menu?endpoint=agent1004")),
        encoded(header_lines(agi_callerid="5550460\nagi_uniqueid: seed-1001-0")),
        # no uniqueid, an empty one, no channel
        encoded(header_lines(agi_uniqueid=None)),
        encoded(header_lines(agi_uniqueid="")),
        encoded(header_lines(agi_channel=None)),
        # a line that is not agi_<key>: value
        encoded(header_lines(), extra="Event: FullyBooted\n"),
    ],
    ids=["repeated-script", "repeated-uniqueid", "no-uniqueid", "empty-uniqueid", "no-channel", "not-a-header"],
)
async def test_a_header_block_asterisk_would_not_send_is_refused_before_any_route_runs(
    block: bytes, center: CallCenter, asterisk: AsteriskUnderTest
) -> None:
    store = store_of(center)
    calls = await store.list_calls(limit=1000)
    sent = await refused_before_any_route(asterisk.config.agi.port, block)
    # a route would have sent its first command (and the inbound route would have stored a call)
    assert sent == b""
    assert await store.list_calls(limit=1000) == calls
    assert await store.get_call("") is None


# --- PINs -----------------------------------------------------------------------------------------------------


async def test_twenty_concurrent_wrong_agent_pins_lock_the_agent_out_at_exactly_the_limit(
    center: CallCenter, driver: Driver
) -> None:
    """Twenty 801 calls at once, each keying Bob's number and one wrong PIN: the store counts, refuses and records
    in one transaction, so exactly pin_max_failures are recorded and every other call hears the lockout."""
    store = store_of(center)
    limit = center.config.selfservice.pin_max_failures
    since = utcnow() - timedelta(minutes=center.config.selfservice.pin_lockout_minutes)
    phones = [await driver.call("801", f"55598{n:02d}") for n in range(20)]

    async def attempt(phone: Caller) -> list[str]:
        await phone.answer("cc/enter-agent-id", "1002#")
        heard = await phone.prompt()
        if "cc/enter-agent-pin" in heard:  # not locked out yet when the number was keyed
            await phone.press("9999#")
            heard = await phone.prompt()
        await phone.hangup()
        await phone.ended()
        return heard

    outcomes = await asyncio.gather(*(attempt(p) for p in phones))
    assert sum("cc/login-failed" in heard for heard in outcomes) == limit
    assert sum("cc/pin-locked" in heard for heard in outcomes) == len(phones) - limit
    assert await store.pin_failures("agent:1002", since) == limit


async def test_an_agent_number_and_pin_keyed_in_one_go_reach_no_log(
    center: CallCenter, driver: Driver, asterisk: AsteriskUnderTest
) -> None:
    """801 reads the agent number with GET DATA, like the PIN: Read() would write "User entered '10022222'"."""
    phone = await driver.call("801", "5559871")
    await phone.answer("cc/enter-agent-id", "10022222")
    await phone.prompt("cc/enter-agent-pin")
    await phone.hangup()
    await phone.ended()
    log = (asterisk.layout.log_dir / "messages.log").read_text(errors="replace").splitlines()
    assert not [line for line in log if "10022222" in line]
    # the call's own lines (Asterisk tags them with its call id): no key it pressed was written down
    start = next(line for line in log if phone.channel in line and "801@cc-inbound:1]" in line)
    call_id = re.search(r"\[C-[0-9a-f]+\]", start)
    assert call_id is not None
    assert not [line for line in log if call_id.group(0) in line and "User entered '" in line]


# --- FastAGI slots ----------------------------------------------------------------------------------------------


async def test_silent_fastagi_peers_holding_every_slot_are_cut_off_by_their_commands_deadline(
    center: CallCenter, driver: Driver, asterisk: AsteriskUnderTest
) -> None:
    """As many loopback peers as there are session slots send a valid header block and never answer: each is cut off
    when its first command's reply is overdue (command_timeout), not after a prompt's or the session's deadline,
    and a real call is served as soon as they are gone."""
    assert center.agi is not None
    slots = center.config.agi.max_sessions
    block = encoded(header_lines())
    peers = [await asyncio.open_connection("127.0.0.1", asterisk.config.agi.port) for _ in range(slots)]
    try:
        for _, writer in peers:
            writer.write(block)
            await writer.drain()
        # each gets its first command, then silence from us; the server must give up on every one by itself
        async with asyncio.timeout(center.config.agi.command_timeout + 10):
            firsts = await asyncio.gather(*(reader.readline() for reader, _ in peers))
            assert all(firsts), "every silent peer got a first command"
            rest = await asyncio.gather(*(reader.read() for reader, _ in peers))
        assert all(r == b"" for r in rest)  # closed by the server, nothing more sent
    finally:
        for _, writer in peers:
            writer.close()
    caller = await driver.call("800", "5550470")
    await caller.answer("cc/choose-service", "1")
    await caller.hangup()
    await caller.ended()
    assert center.agi.active_sessions <= 1  # only the real call's hangup handler, if still running


async def test_a_local_user_who_is_not_asterisk_is_not_served_by_fastagi(
    center: CallCenter, asterisk: AsteriskUnderTest
) -> None:
    """Whoever connects to FastAGI speaks for Asterisk (it answers our GET VARIABLEs), so the server serves only
    sockets owned by Asterisk's user: a local user `nobody` sending a perfect header block gets nothing."""
    store = store_of(center)
    calls = await store.list_calls(limit=1000)
    script = (
        "import socket, sys\n"
        "s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))\n"
        "s.sendall(sys.stdin.buffer.read())\n"
        "s.settimeout(10)\n"
        "got = b''\n"
        "try:\n"
        "    while chunk := s.recv(4096):\n"
        "        got += chunk\n"
        "except ConnectionResetError:\n"  # closed with our header block unread: a reset, as refusals go
        "    pass\n"
        "print(len(got))\n"
    )
    proc = await asyncio.create_subprocess_exec(
        "runuser",
        "-u",
        "nobody",
        "--",
        # Debian's python: the virtualenv, under root's checkout, is not for other users to run
        "/usr/bin/python3",
        "-c",
        script,
        str(asterisk.config.agi.port),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(encoded(header_lines())), 30)
    assert proc.returncode == 0, err.decode()
    assert out.decode().strip() == "0"  # closed at once, not one command sent
    assert await store.list_calls(limit=1000) == calls


async def test_a_sip_message_is_not_a_call(center: CallCenter, driver: Driver, asterisk: AsteriskUnderTest) -> None:
    """A SIP MESSAGE used to run the whole IVR on a Message/ channel that then sat at the head of the shared queue
    for queue_timeout; with no messaging module it is refused, and no call, queue entry or row follows."""
    store = store_of(center)
    calls = await store.list_calls(limit=1000)
    mark = driver.log.mark()
    a = asterisk.config.asterisk
    loop = asyncio.get_running_loop()
    answered: asyncio.Future[bytes] = loop.create_future()

    class Peer(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            if not answered.done() and not data.startswith(b"SIP/2.0 100"):
                answered.set_result(data)

    transport, _ = await loop.create_datagram_endpoint(Peer, local_addr=("127.0.0.1", 0))
    try:
        port = transport.get_extra_info("sockname")[1]
        body = b"hello"
        message = (
            f"MESSAGE sip:{a.service_number}@127.0.0.1:{a.sip_port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-cc-msg-1;rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:5557100@127.0.0.1:{port}>;tag=cc-msg\r\n"
            f"To: <sip:{a.service_number}@127.0.0.1:{a.sip_port}>\r\n"
            "Call-ID: cc-msg-1@127.0.0.1\r\n"
            "CSeq: 1 MESSAGE\r\n"
            "Content-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        transport.sendto(message, ("127.0.0.1", a.sip_port))
        reply = await asyncio.wait_for(answered, 10)
    finally:
        transport.close()
    status = reply.split(b"\r\n", 1)[0].decode()
    assert not status.startswith("SIP/2.0 2"), status  # not accepted (202 Accepted is what ran the IVR)
    # a call would have been placed by now: the caller ID check and the AGI take milliseconds
    caller = await driver.call("800", "5550480")
    await caller.answer("cc/choose-service", "1")
    await caller.hangup()
    await caller.ended()
    assert not [
        e for e in driver.log.matching(event("Newchannel"), mark) if str(e.get("Channel")).startswith("Message/")
    ]
    assert [c.uniqueid for c in await store.list_calls(limit=1000) if c not in calls] == [caller.uniqueid]
